"""A DEBUG line per REST request: method, path, status, user, duration.

Never the query string or the body (tokens and message text travel there),
and never headers (Authorization, Cookie). tests/security proves the log of a
DEBUG session holds neither a message body nor a token.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from flask_login import current_user

log = logging.getLogger("chatapp.requests")


def init_request_log(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        if log.isEnabledFor(logging.DEBUG):
            started = g.get("request_started", time.perf_counter())
            user = current_user.get_id() if current_user and current_user.is_authenticated else "-"
            log.debug("%s %s -> %s user=%s %.1fms", request.method, request.path, response.status_code, user,
                      (time.perf_counter() - started) * 1000)
        return response
