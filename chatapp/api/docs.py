"""The API reference, served by the API itself: OpenAPI for REST, AsyncAPI for /chat.

Both documents are generated from chatapp/contract (``make contract``) and
committed; a test fails when they are stale. The readable page that renders
them is chatapp/web/reference (served at /reference/).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify

bp = Blueprint("docs", __name__, url_prefix="/api/v1")

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPENAPI_PATH = DOCS / "openapi.json"
ASYNCAPI_PATH = DOCS / "asyncapi.json"


@cache
def _document(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(_document(OPENAPI_PATH))


@bp.get("/asyncapi.json")
def asyncapi() -> Response:
    return jsonify(_document(ASYNCAPI_PATH))


# The readable reference: a static page and its viewer, no third-party code.
# Served at /api/v1/reference so that the page's relative fetches of
# openapi.json and asyncapi.json reach the documents above.
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "web" / "reference"
REFERENCE_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
REFERENCE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "reference.js": "text/javascript; charset=utf-8",
    "reference.css": "text/css; charset=utf-8",
}


def _reference_file(name: str) -> Response:
    response = Response((REFERENCE_DIR / name).read_bytes(), mimetype=REFERENCE_FILES[name].split(";")[0])
    response.headers["Content-Type"] = REFERENCE_FILES[name]
    response.headers["Content-Security-Policy"] = REFERENCE_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/reference")
def reference() -> Response:
    return _reference_file("index.html")


@bp.get("/reference.js")
def reference_script() -> Response:
    return _reference_file("reference.js")


@bp.get("/reference.css")
def reference_style() -> Response:
    return _reference_file("reference.css")
