from __future__ import annotations

import msgspec
from flask import Blueprint, Response, current_app, session
from flask.typing import ResponseReturnValue
from flask_login import login_user, logout_user

from ..api.http import answer, json_body, path_id, unset_to_missing
from ..api.principal import SESSION_PROOF_KEY, SESSION_TOKEN_KEY, client_ip, current_token_id, me
from ..api.typed import login_required
from ..contract import rest
from ..contract.objects import UNSET, Session
from ..contract.parse import parse
from ..services import accounts, closing, export, presence, profile

bp = Blueprint("auth", __name__, url_prefix="/api/v1")


def _start_browser_session(result: accounts.Session) -> None:
    """Bind the cookie session to the token row, so logout revokes both."""
    session.clear()
    login_user(result.user)
    session[SESSION_TOKEN_KEY] = result.token_row.id
    session[SESSION_PROOF_KEY] = accounts.session_proof(result.token_row)


def _session_answer(result: accounts.Session, status: int = 200) -> tuple[Response, int]:
    return answer(Session, status, user=presence.user_object(result.user), token=result.token)


@bp.post("/auth/register")
def register() -> ResponseReturnValue:
    body = parse(rest.RegisterRequest, json_body())
    result = accounts.register(
        body.username, body.password, unset_to_missing(body.display_name),
        None if body.device_name is UNSET else body.device_name, client_ip(),
    )
    _start_browser_session(result)
    return _session_answer(result, 201)


@bp.post("/auth/login")
def login() -> ResponseReturnValue:
    body = parse(rest.LoginRequest, json_body())
    result = accounts.login(
        body.username, body.password, None if body.device_name is UNSET else body.device_name, client_ip()
    )
    _start_browser_session(result)
    return _session_answer(result)


@bp.post("/auth/logout")
@login_required
def logout() -> ResponseReturnValue:
    token_id = current_token_id()
    user = me()
    if token_id is not None:
        accounts.revoke_token(user, token_id)
    logout_user()
    session.clear()
    return "", 204


@bp.post("/auth/password")
@login_required
def change_password() -> ResponseReturnValue:
    """Every other login ends; this one (bearer token or cookie session) stays valid."""
    body = parse(rest.ChangePasswordRequest, json_body())
    accounts.change_password(me(), body.current_password, body.new_password, current_token_id(), client_ip())
    return "", 204


@bp.get("/me")
@login_required
def get_me() -> ResponseReturnValue:
    return answer(rest.UserAnswer, user=presence.user_object(me()))


@bp.patch("/me")
@login_required
def update_me() -> ResponseReturnValue:
    body = parse(rest.UpdateMeRequest, json_body())
    return answer(rest.UserAnswer, user=profile.update_display_name(me(), body.display_name))


@bp.delete("/me")
@login_required
def close_account() -> ResponseReturnValue:
    body = parse(rest.CloseAccountRequest, json_body())
    closing.close_account(me(), body.password, client_ip())
    logout_user()
    session.clear()
    return "", 204


@bp.get("/me/export")
@login_required
def export_account() -> ResponseReturnValue:
    user = me()
    data = msgspec.json.encode(export.export_account(user))
    response = current_app.response_class(data, mimetype="application/json")
    # A download, not a page: the browser saves it (the username is [a-z0-9_.-], safe in a header).
    response.headers["Content-Disposition"] = f'attachment; filename="chat-export-{user.username}.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/auth/tokens")
@login_required
def list_tokens() -> ResponseReturnValue:
    return answer(rest.TokensAnswer, tokens=accounts.list_tokens(me(), current_token_id()))


@bp.delete("/auth/tokens/<token_id>")
@login_required
def revoke_token(token_id: str) -> ResponseReturnValue:
    accounts.revoke_token(me(), path_id(token_id, "token_id"))
    return "", 204
