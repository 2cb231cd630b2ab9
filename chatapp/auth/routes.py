from __future__ import annotations

from flask import Blueprint, jsonify, session
from flask_login import login_required, login_user, logout_user

from ..api.http import json_body, path_id
from ..api.principal import SESSION_PROOF_KEY, SESSION_TOKEN_KEY, client_ip, current_token_id, me
from ..services import accounts, presence
from ..services.validation import MISSING

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


def _start_browser_session(result: accounts.Session) -> None:
    """Bind the cookie session to the token row, so logout revokes both."""
    session.clear()
    login_user(result.user)
    session[SESSION_TOKEN_KEY] = result.token_row.id
    session[SESSION_PROOF_KEY] = accounts.session_proof(result.token_row)


def _session_body(result: accounts.Session) -> dict:
    return {"user": presence.user_dict(result.user), "token": result.token}


@bp.post("/auth/register")
def register():
    data = json_body()
    result = accounts.register(
        data.get("username", MISSING), data.get("password", MISSING), data.get("display_name", MISSING),
        data.get("device_name"), client_ip(),
    )
    _start_browser_session(result)
    return jsonify(_session_body(result)), 201


@bp.post("/auth/login")
def login():
    data = json_body()
    result = accounts.login(
        data.get("username", MISSING), data.get("password", MISSING), data.get("device_name"), client_ip()
    )
    _start_browser_session(result)
    return jsonify(_session_body(result))


@bp.post("/auth/logout")
@login_required
def logout():
    token_id = current_token_id()
    user = me()
    if token_id is not None:
        accounts.revoke_token(user, token_id)
    logout_user()
    session.clear()
    return "", 204


@bp.get("/me")
@login_required
def get_me():
    return jsonify({"user": presence.user_dict(me())})


@bp.get("/auth/tokens")
@login_required
def list_tokens():
    return jsonify({"tokens": accounts.list_tokens(me(), current_token_id())})


@bp.delete("/auth/tokens/<token_id>")
@login_required
def revoke_token(token_id: str):
    accounts.revoke_token(me(), path_id(token_id, "token_id"))
    return "", 204
