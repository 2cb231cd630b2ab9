"""Connect-time authentication: a bearer token in ``auth``, or the session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_login import current_user

from ..models import User
from ..services import accounts
from ..services.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Principal:
    user: User
    token_id: int
    via_cookie: bool


def authenticate(auth: object) -> Principal:
    token = auth.get("token") if isinstance(auth, dict) else None
    if token is not None:
        user, row = accounts.authenticate_token(token)
        return Principal(user, row.id, via_cookie=False)
    if current_user.is_authenticated and getattr(g, "token_id", None):
        check_origin()
        return Principal(current_user._get_current_object(), g.token_id, via_cookie=True)
    raise Unauthorized("log in first: pass auth {token} or the session cookie")


def check_origin() -> None:
    """Cookie-authenticated sockets from another site are cross-site WebSocket
    hijacking: allow the server's own origin and the configured allowlist."""
    origin = request.headers.get("Origin")
    if origin and not origin_allowed(origin):
        raise Forbidden("origin not allowed for cookie authentication")


def origin_allowed(origin: str) -> bool:
    """The server's own origin, or one listed in CORS_ALLOWED_ORIGINS.

    "*" in the list lets any site open bearer-token sockets (engineio's CORS),
    but never lends the session cookie to another site: cookie-authenticated
    sockets and REST writes need an explicitly listed origin (docs/security.md).
    """
    if origin in current_app.config["CORS_ALLOWED_ORIGINS"]:
        return True
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc == request.host and parts.scheme == request.scheme
