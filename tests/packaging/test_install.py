"""One installable package: the pins agree with each other, the `chat` console
script is this app's CLI, and nothing loads project code by path."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support.server import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_normalize(match[1])] = match[2]
    return pins


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_dev_extra_pins_exactly_what_requirements_dev_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = {_normalize(m[1]): m[2] for m in map(PIN.match, project["optional-dependencies"]["dev"]) if m}
    assert extra == _pins(ROOT / "requirements-dev.txt")


def test_runtime_dependencies_are_read_from_requirements_txt() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dependencies" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}


def test_constraints_pin_every_direct_requirement_at_its_own_version() -> None:
    """constraints.txt (make constraints) holds the whole resolved set; a direct pin
    it contradicts would make `make install` fail, one it lacks is unconstrained."""
    constraints = _pins(ROOT / "constraints.txt")
    for requirements in ("requirements.txt", "requirements-dev.txt", "bench/requirements.txt"):
        for name, version in _pins(ROOT / requirements).items():
            if requirements.startswith("bench") and name not in constraints:
                continue  # the benchmark's tools are installed by `make bench` only
            pinned = constraints.get(name)
            assert pinned == version, f"{requirements}: {name}=={version}, constraints.txt: {pinned}"


def test_the_chat_console_script_is_the_apps_cli() -> None:
    chat = Path(sys.executable).parent / "chat"
    assert chat.exists(), "pip install -e . (make install) installs the `chat` script"
    result = subprocess.run(
        [str(chat), "--help"], cwd="/", capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "CHAT_ASYNC_MODE": "threading", "CHAT_DATABASE_URL": "sqlite://"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for command in ("announce", "deactivate", "db"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), result.stdout


def test_no_code_is_loaded_by_path() -> None:
    """Everything imports chatapp (installed editable); no sys.path inserts, no
    importlib loading of a file such as deploy/cluster.py."""
    folders = ("chatapp", "tests", "bench", "deploy")
    sources = [*ROOT.glob("*.py"), *(path for folder in folders for path in (ROOT / folder).rglob("*.py"))]
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources
        if "node_modules" not in path.parts
        and ("sys.path.insert" in (text := path.read_text()) or "spec_from_file_location" in text)
    ]
    offenders.remove("tests/packaging/test_install.py")
    assert offenders == []
