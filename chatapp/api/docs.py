"""The API reference, served by the API itself: OpenAPI for REST."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, jsonify

bp = Blueprint("docs", __name__, url_prefix="/api/v1")

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@cache
def _spec() -> dict:
    return json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    return jsonify(_spec())
