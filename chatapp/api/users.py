from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..contract import rest
from ..services import accounts, presence
from ..services.validation import query_int
from .http import answer, path_id
from .principal import me
from .typed import login_required

bp = Blueprint("users", __name__, url_prefix="/api/v1")


@bp.get("/users")
@login_required
def search_users() -> ResponseReturnValue:
    limit = query_int(request.args.get("limit"), "limit", minimum=1)
    return answer(rest.UsersAnswer, users=accounts.search_users(me(), request.args.get("q"), limit))


@bp.get("/users/<user_id>")
@login_required
def get_user(user_id: str) -> ResponseReturnValue:
    return answer(rest.UserAnswer, user=presence.user_object(accounts.get_user(path_id(user_id, "user_id"))))
