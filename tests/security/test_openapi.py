"""The OpenAPI document (docs/openapi.json, served at /api/v1/openapi.json)
describes the live API: schemathesis generates requests for every operation
and checks there is no server error and every response conforms."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .live import PASSWORD, live_server, register

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
SESSION_ENDING = {"logout", "revokeToken"}


def _routes() -> set[tuple[str, str]]:
    """(METHOD, /path/{param}) for every API route the app registers."""
    from chatapp import create_app

    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/metrics"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_every_route_is_documented_and_nothing_else():
    doc = json.loads(DOC.read_text())
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _routes()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "cookie"}
    for name in ("User", "Message", "Conversation", "Error"):
        assert name in doc["components"]["schemas"]


def test_conflict_is_documented_where_the_api_answers_it():
    """409 comes from a taken username and from editing or reacting to a deleted
    message (tests/api); schemathesis only finds the latter by chance."""
    doc = json.loads(DOC.read_text())
    answering = {
        ("post", "/api/v1/auth/register"),
        ("patch", "/api/v1/messages/{message_id}"),
        ("post", "/api/v1/messages/{message_id}/reactions"),
        ("delete", "/api/v1/messages/{message_id}/reactions/{emoji}"),
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m, op in ops.items() if "409" in op["responses"]}
    assert documented == answering


@pytest.mark.e2e
def test_schemathesis_against_a_live_server(tmp_path):
    env = {"CHAT_RATE_MESSAGES_BURST": "1000000", "CHAT_RATE_LOGIN_BURST": "1000000"}
    with live_server(tmp_path, **env) as server:
        served = requests.get(server.url + "/api/v1/openapi.json", timeout=10)
        assert served.status_code == 200
        assert served.json() == json.loads(DOC.read_text())
        alice, bob = register(server.url), register(server.url)
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {alice['token']}"
        # Some objects to find: a group with bob, a message, a public room.
        group = api.post(server.url + "/api/v1/conversations",
                         json={"type": "group", "name": "docs", "member_ids": [bob["user"]["id"]]}).json()
        cid = group["conversation"]["id"]
        api.post(server.url + f"/api/v1/conversations/{cid}/messages", json={"body": "hello", "client_id": "d1"})
        api.post(server.url + "/api/v1/conversations",
                 json={"type": "group", "name": "open", "member_ids": [], "visibility": "public"})

        schema = schemathesis.openapi.from_dict(served.json())
        tested: dict[str, int] = {}
        statuses: dict[int, int] = {}
        for result in schema.get_all_operations():
            _fuzz_operation(server, alice, result.ok(), tested, statuses)
        print(f"schemathesis: {len(tested)} operations, {sum(tested.values())} requests, by class {statuses}")
        assert statuses.get(2, 0) >= 20, statuses  # authenticated successes were validated, not only errors
        assert len(tested) == sum(len(ops) for ops in served.json()["paths"].values())
        assert "Traceback" not in server.log()


def _login(server, user) -> str:
    response = requests.post(server.url + "/api/v1/auth/login", timeout=10,
                             json={"username": user["user"]["username"], "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def _fuzz_operation(server, alice, operation, tested, statuses) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        ending = operation.definition.raw.get("operationId") in SESSION_ENDING
        token = _login(server, alice) if ending else alice["token"]
        # Our token, not one schemathesis made up for the bearer scheme.
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        response = case.call_and_validate(base_url=server.url, checks=CHECKS)
        tested[operation.label] = tested.get(operation.label, 0) + 1
        statuses[response.status_code // 100] = statuses.get(response.status_code // 100, 0) + 1
        if ending and requests.get(server.url + "/api/v1/me", timeout=10,
                                   headers={"Authorization": f"Bearer {alice['token']}"}).status_code == 401:
            alice["token"] = _login(server, alice)  # DELETE /auth/tokens/<id> hit the main token

    run()
