"""Who is calling: a bearer token (apps, bots) or the Flask-Login session cookie (browser)."""

from __future__ import annotations

from flask import Flask, g, jsonify, request, session
from flask_login import current_user

from ..extensions import login_manager
from ..models import User
from ..services import accounts
from ..services.errors import Unauthorized

SESSION_TOKEN_KEY = "tid"


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    # No "remember me" cookie: the session cookie is bound to a revocable token row.
    login_manager.session_protection = None

    @login_manager.user_loader
    def load_from_session(user_id: str) -> User | None:
        try:
            user, row = accounts.authenticate_token_id(session.get(SESSION_TOKEN_KEY), user_id)
        except Unauthorized:
            return None
        g.token_id = row.id
        return user

    @login_manager.request_loader
    def load_from_bearer(req) -> User | None:
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            user, row = accounts.authenticate_token(token.strip())
        except Unauthorized:
            return None
        g.token_id = row.id
        g.via_bearer = True
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        return jsonify(Unauthorized("log in first, or send Authorization: Bearer <token>").envelope()), 401


def me() -> User:
    return current_user._get_current_object()


def current_token_id() -> int | None:
    return getattr(g, "token_id", None)


def client_ip() -> str | None:
    # Behind the load balancer ProxyFix puts the client's address here.
    return request.remote_addr
