"""The generated artefacts are what the contract's definitions produce.

docs/openapi.json, docs/asyncapi.json, the event tables of docs/events.md and
mobile_client/src/core/types.ts are written by ``make contract``
(python -m chatapp.contract.generate). A definition changed without
regenerating, or a generated file edited by hand, fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.contract import events, generate


@pytest.mark.parametrize("path", list(generate.artefacts()), ids=lambda p: str(p.relative_to(generate.ROOT)))
def test_the_committed_file_is_what_the_definitions_generate(path):
    expected = generate.artefacts()[path]
    assert path.read_text(encoding="utf-8") == expected, f"{path} is stale: run `make contract`"


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


@pytest.mark.parametrize("path", [generate.OPENAPI, generate.ASYNCAPI], ids=["openapi", "asyncapi"])
def test_every_reference_in_a_document_resolves(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        _resolve(doc, ref)


def test_asyncapi_documents_every_event_in_both_directions_with_its_audience():
    doc = generate.asyncapi()
    assert doc["asyncapi"].startswith("3.0")
    assert doc["channels"]["chat"]["address"] == "/chat"
    sent = {doc["components"]["messages"][m["$ref"].split("/")[-1]]["name"]
            for op in doc["operations"].values() if op["action"] == "send" for m in op["messages"]}
    received = {op["title"] for op in doc["operations"].values() if op["action"] == "receive"}
    assert sent == events.SERVER_EVENT_NAMES
    assert received == events.CLIENT_EVENT_NAMES
    for server in events.SERVER_EVENTS:
        assert server.AUDIENCE in doc["components"]["messages"][generate._key(server.NAME)]["description"]
    for op in doc["operations"].values():
        if op["action"] == "receive":
            assert op["reply"]["messages"], op


def test_a_field_added_to_a_definition_reaches_every_artefact(tmp_path):
    """The promise of issue 12: a field written once in the definitions appears in
    the OpenAPI and AsyncAPI documents and in the client's types. A copy of the
    contract package with one more Message field generates them in a subprocess."""
    package = tmp_path / "contract_copy"
    shutil.copytree(Path(generate.__file__).parent, package / "contract")
    (package / "__init__.py").write_text("")
    objects_py = package / "contract" / "objects.py"
    source = objects_py.read_text()
    anchor = "class Receipt(Object):"
    objects_py.write_text(source.replace(anchor, "    pinned: bool = False\n\n\n" + anchor, 1))
    probe = (
        "import json; from contract_copy.contract import generate as g; "
        "print(json.dumps([g.openapi()['components']['schemas']['Message'], "
        "g.asyncapi()['components']['schemas']['Message'], g.types_ts()]))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=True).stdout
    rest_schema, event_schema, types_ts = json.loads(out)
    assert rest_schema["properties"]["pinned"] == {"type": "boolean", "default": False}
    assert event_schema["properties"]["pinned"] == {"type": "boolean", "default": False}
    assert "  pinned?: boolean;" in types_ts.split("export interface Message {")[1].split("}")[0]


def test_every_rest_operation_answers_errors_in_the_envelope():
    doc = generate.openapi()
    for name, response in doc["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}, name
