"""CSRF protection for cookie-authenticated REST writes (docs/security.md).

A browser attaches the session cookie to requests that another site makes it
send (a form post, an image, a ``fetch`` without CORS). Such cross-site
requests cannot carry custom headers without a CORS preflight, and this API
grants no CORS to REST. So an unsafe request (POST, PUT, PATCH, DELETE) that
is authenticated by the cookie must carry ``X-Requested-With`` (any value; the
browser client sends ``XMLHttpRequest``), and a foreign ``Origin`` is refused.

Exempt: requests that a bearer token actually authenticated (apps, bots and
the web client in mobile_client/, which authenticates every call with its
token). A cross-site page cannot add that header either. Only the scheme used
counts: ``Authorization: Basic ...`` (or any header) next to the cookie is a
cookie-authenticated request like any other, and a request naming a bearer
token is authenticated by that token alone, never by the cookie
(api/principal.py), so a bogus bearer next to the cookie is 401.

Login and register are not cookie-authenticated, but a foreign ``Origin`` is
refused there too, so another site cannot log a visitor into its own account.
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_login import current_user

from ..realtime.connection import origin_allowed
from ..services.errors import Forbidden
from .principal import bearer_token

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Anonymous endpoints: a leftover session cookie does not authenticate them.
ANONYMOUS_ENDPOINTS = frozenset({"auth.login", "auth.register"})
HEADER = "X-Requested-With"


def init_csrf(app: Flask) -> None:
    @app.before_request
    def refuse_cross_site_writes() -> None:
        if request.method not in UNSAFE_METHODS or not request.path.startswith("/api/"):
            return
        if bearer_token(request) is not None:
            # Authenticated by that token or not at all: the cookie is ignored
            # (api/principal.py), and browsers never add the header on their own.
            return
        origin = request.headers.get("Origin")
        if origin and not origin_allowed(origin):
            raise Forbidden("cross-site request refused: this origin is not allowed")
        if request.endpoint in ANONYMOUS_ENDPOINTS or request.headers.get(HEADER):
            return
        if "_user_id" in session and current_user.is_authenticated:
            raise Forbidden(f"cookie-authenticated writes need the {HEADER} header (CSRF protection)")
