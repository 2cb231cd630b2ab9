"""Fixtures of the end-to-end tests that drive Node's socket.io-client (tests/e2e/js)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.services import missing

JS_DIR = Path(__file__).parent / "js"


@pytest.fixture
def node() -> str:
    """The node binary, once tests/e2e/js has its socket.io-client (`make e2e-js`)."""
    binary = shutil.which("node")
    if binary is None:
        missing("node is not installed (apt-get install nodejs npm)")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        missing("tests/e2e/js has no node_modules: run `make e2e-js` (npm ci)")
    return binary  # type: ignore[return-value]
