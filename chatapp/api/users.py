from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..contract import rest
from ..contract.parse import parse
from ..services import accounts, blocks, presence, reports
from ..services.validation import query_int
from .http import answer, json_body, optional_json_body, path_id
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
    viewer = me()
    user = accounts.get_user(path_id(user_id, "user_id"))
    return answer(rest.UserAnswer, user=presence.user_object(user, viewer.id))


# ---------------------------------------------------------------- v2 safety: blocks and reports


@bp.post("/users/<user_id>/block")
@login_required
def block_user(user_id: str) -> ResponseReturnValue:
    parse(rest.EmptyRequest, optional_json_body())
    blocks.block(me(), path_id(user_id, "user_id"))
    return "", 204


@bp.delete("/users/<user_id>/block")
@login_required
def unblock_user(user_id: str) -> ResponseReturnValue:
    blocks.unblock(me(), path_id(user_id, "user_id"))
    return "", 204


@bp.get("/me/blocks")
@login_required
def list_blocks() -> ResponseReturnValue:
    return answer(rest.BlocksAnswer, users=blocks.blocked_users(me()))


@bp.post("/messages/<message_id>/report")
@login_required
def report_message(message_id: str) -> ResponseReturnValue:
    body = parse(rest.ReportRequest, json_body())
    report_id = reports.report_message(me(), path_id(message_id, "message_id"), body.reason)
    return answer(rest.ReportAnswer, 201, report={"id": report_id})
