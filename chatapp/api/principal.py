"""Who is calling: a bearer token (apps, bots) or the Flask-Login session cookie (browser)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import cast

from flask import Flask, Request, Response, g, jsonify, request, session
from flask_login import current_user

from ..extensions import login_manager
from ..models import User
from ..services import accounts
from ..services.errors import Unauthorized

SESSION_TOKEN_KEY = "tid"
# accounts.session_proof() of that token row: unguessable, unlike the row id.
SESSION_PROOF_KEY = "tp"


def bearer_token(req: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Secrets published somewhere (this repository's history, docs, examples):
# a cookie signed with one of them can be forged by anyone.
KNOWN_PLACEHOLDERS = frozenset({
    "dev-insecure-change-me", "testing-secret", "change-me", "changeme", "change-this", "secret", "secret-key",
    "secret_key", "dev", "development", "replace-me", "please-change-me", "your-secret-key", "<generate me>",
})
MIN_SECRET_CHARS = 32
SECRET_FILE = "secret_key"


def ensure_secret_key(app: Flask) -> None:
    """The cookie-signing secret is never a public value, in any config.

    Configured: it must not be a known placeholder (nor start with ``dev-``);
    production also needs 32+ characters. Unset: one secret per installation
    is generated into ``instance/secret_key`` (mode 0600) and reused on every
    restart, by every worker sharing that folder. Several workers of a fresh
    installation may start at once: the file appears atomically (link), and
    whoever loses the race reads the winner's secret.
    """
    configured = app.config.get("SECRET_KEY")
    if configured:
        text = str(configured)
        if text.strip().lower() in KNOWN_PLACEHOLDERS or text.startswith("dev-"):
            raise RuntimeError("SECRET_KEY is a published placeholder: set a random one, or unset it to generate one")
        if app.config.get("SESSION_COOKIE_SECURE") and len(text) < MIN_SECRET_CHARS:
            raise RuntimeError(f"production needs SECRET_KEY: at least {MIN_SECRET_CHARS} random characters")
        return
    if app.config.get("SESSION_COOKIE_SECURE"):
        # Production workers on several hosts must share one secret: a generated
        # per-host file would log users out whenever the balancer switches host.
        raise RuntimeError(f"production needs SECRET_KEY: at least {MIN_SECRET_CHARS} random characters")
    app.config["SECRET_KEY"] = _installation_secret(Path(app.instance_path) / SECRET_FILE)


def _installation_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(scratch, path)  # atomic, and fails if another worker was first
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise RuntimeError(f"{path} holds no usable secret: delete it to generate a new one")
    return secret


def init_login(app: Flask) -> None:
    login_manager.init_app(app)
    # No "remember me" cookie: the session cookie is bound to a revocable token row.
    login_manager.session_protection = None

    def load_from_session(user_id: str) -> User | None:
        if bearer_token(request) is not None:
            # A request that names a bearer token is authenticated by it alone
            # (a bad one is 401 even with a valid cookie); the CSRF exemption
            # for bearer requests relies on this (api/csrf.py).
            return None
        try:
            user, row = accounts.authenticate_token_id(
                session.get(SESSION_TOKEN_KEY), user_id, session.get(SESSION_PROOF_KEY)
            )
        except Unauthorized:
            return None
        g.token_id = row.id
        return user

    def load_from_bearer(req: Request) -> User | None:
        token = bearer_token(req)
        if token is None:
            return None
        try:
            user, row = accounts.authenticate_token(token)
        except Unauthorized:
            return None
        g.token_id = row.id
        g.via_bearer = True
        return user

    def unauthorized() -> tuple[Response, int]:
        return jsonify(Unauthorized("log in first, or send Authorization: Bearer <token>").envelope()), 401

    # Registered by call, not as decorators: Flask-Login's are untyped (Any to mypy).
    login_manager.user_loader(load_from_session)
    login_manager.request_loader(load_from_bearer)
    login_manager.unauthorized_handler(unauthorized)


def me() -> User:
    return cast(User, current_user._get_current_object())  # Flask-Login is untyped


def current_token_id() -> int | None:
    return getattr(g, "token_id", None)


def client_ip() -> str | None:
    # The peer's address; ProxyFix replaces it from X-Forwarded-For only when
    # CHAT_TRUSTED_PROXIES says how many proxy hops to trust (chatapp/__init__.py).
    return request.remote_addr
