from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..contract import rest
from ..contract.objects import UNSET
from ..contract.parse import parse
from ..services import messaging
from ..services import sync as catch_up
from ..services.validation import MISSING, query_int
from .http import answer, json_body, path_id
from .principal import me
from .typed import login_required

bp = Blueprint("messages", __name__, url_prefix="/api/v1")


@bp.get("/conversations/<conversation_id>/messages")
@login_required
def history(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    args = request.args
    messages, has_more = messaging.history(
        me(), cid,
        query_int(args.get("before"), "before", minimum=0),
        query_int(args.get("after"), "after", minimum=0),
        query_int(args.get("limit"), "limit", minimum=1),
    )
    return answer(rest.MessagePage, messages=messages, has_more=has_more)


@bp.post("/conversations/<conversation_id>/messages")
@login_required
def send(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    body = parse(rest.SendRequest, json_body())
    message, created = messaging.send_message(
        me(), cid, body.body, body.client_id, reply_to=None if body.reply_to is UNSET else body.reply_to,
        attachments=None if body.attachments is UNSET else body.attachments,
    )
    return answer(rest.MessageAnswer, 201 if created else 200, message=message)


@bp.patch("/messages/<message_id>")
@login_required
def edit(message_id: str) -> ResponseReturnValue:
    mid = path_id(message_id, "message_id")
    body = parse(rest.EditRequest, json_body()).body
    return answer(rest.MessageAnswer, message=messaging.edit_message(me(), mid, body))


@bp.delete("/messages/<message_id>")
@login_required
def delete(message_id: str) -> ResponseReturnValue:
    messaging.delete_message(me(), path_id(message_id, "message_id"))
    return "", 204


@bp.post("/messages/<message_id>/reactions")
@login_required
def add_reaction(message_id: str) -> ResponseReturnValue:
    mid = path_id(message_id, "message_id")
    emoji = parse(rest.ReactRequest, json_body()).emoji
    return answer(rest.MessageAnswer, message=messaging.react(me(), mid, emoji, add=True))


@bp.delete("/messages/<message_id>/reactions/<path:emoji>")
@login_required
def remove_reaction(message_id: str, emoji: str) -> ResponseReturnValue:
    mid = path_id(message_id, "message_id")
    return answer(rest.MessageAnswer, message=messaging.react(me(), mid, emoji, add=False))


@bp.post("/sync")
@login_required
def sync() -> ResponseReturnValue:
    """REST twin of the socket ``sync`` (extension): catch up without a socket,
    e.g. from a background fetch that a push woke up."""
    body = parse(rest.SyncRequest, json_body())
    versions = MISSING if body.versions is UNSET else body.versions
    limit = None if body.limit is UNSET else body.limit
    return answer(rest.SyncAnswer, **catch_up.sync(me(), body.cursors, limit, versions))
