from __future__ import annotations

import os
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from ..extensions import db

bp = Blueprint("web", __name__)

CLIENT_CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; "
    "manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Per worker: 200 when the database and the queue answer, 503 ``degraded`` otherwise."""
    try:
        db.session.execute(text("SELECT 1"))
        db_status = "ok"
    except Exception:
        db.session.rollback()
        db_status = "error"
    if current_app.config["REDIS_URL"]:
        try:
            queue_status = "ok" if current_app.extensions["chat.state"].ping() else "error"
        except Exception:
            queue_status = "error"
    else:
        queue_status = "disabled"  # embedded mode: one process, no queue needed
    healthy = db_status == "ok" and queue_status != "error"
    body = {
        "status": "ok" if healthy else "degraded",
        "db": db_status,
        "message_queue": queue_status,
        "worker": os.getpid(),
        "async_mode": current_app.extensions["socketio"].async_mode,
    }
    return jsonify(body), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> tuple[bytes, int, dict[str, str]]:
    return generate_latest(), 200, {"Content-Type": CONTENT_TYPE_LATEST}


def _dist() -> Path:
    return Path(current_app.config["CLIENT_DIST_DIR"])


@bp.get("/")
def index() -> ResponseReturnValue:
    dist = _dist()
    if not (dist / "index.html").is_file():
        return (
            "<!doctype html><title>Chat API</title><p>The chat API is running. The web client is not built "
            "(Node.js missing?): run <code>make client</code>. API reference: <a href='/api/v1/openapi.json'>"
            "/api/v1/openapi.json</a>.</p>",
            200,
            {"Content-Type": "text/html; charset=utf-8"},
        )
    response = _no_cache(send_from_directory(dist, "index.html"))
    # Defence in depth for the token the client keeps in storage: the build has
    # no inline scripts or styles, so nothing but our own files may run.
    response.headers["Content-Security-Policy"] = CLIENT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/<path:filename>")
def client_file(filename: str) -> ResponseReturnValue:
    dist = _dist()
    if not (dist / filename).is_file():
        return jsonify({"error": {"code": "not_found", "message": "not found"}}), 404
    response = send_from_directory(dist, filename)
    if filename in ("sw.js", "service-worker.js", "manifest.webmanifest"):
        _no_cache(response)
    return response


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response
