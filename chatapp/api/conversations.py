from __future__ import annotations

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from ..contract import rest
from ..contract.parse import parse
from ..services import conversations, notification_settings, receipts
from ..services.errors import field_error
from ..services.validation import query_int
from .http import answer, json_body, optional_json_body, path_id, unset_to_missing
from .principal import me
from .typed import login_required

bp = Blueprint("conversations", __name__, url_prefix="/api/v1")


@bp.get("/conversations")
@login_required
def list_conversations() -> ResponseReturnValue:
    limit = query_int(request.args.get("limit"), "limit", minimum=1)
    items, next_cursor = conversations.list_conversations(me(), limit, request.args.get("cursor"))
    return answer(rest.ConversationPage, conversations=items, next_cursor=next_cursor)


@bp.post("/conversations")
@login_required
def create_conversation() -> ResponseReturnValue:
    data = json_body()
    kind = data.get("type")
    if kind == "direct":
        direct = parse(rest.CreateDirectRequest, data)
        conversation, created = conversations.open_direct(me(), direct.user_id)
        return answer(rest.ConversationAnswer, 201 if created else 200, conversation=conversation)
    if kind == "group":
        group = parse(rest.CreateGroupRequest, data)
        conversation = conversations.create_group(
            me(), group.name, unset_to_missing(group.member_ids),
            unset_to_missing(group.visibility), unset_to_missing(group.posting),
        )
        return answer(rest.ConversationAnswer, 201, conversation=conversation)
    raise field_error("type", "must be direct or group")


@bp.get("/conversations/<conversation_id>")
@login_required
def get_conversation(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    return answer(rest.ConversationAnswer, conversation=conversations.get_conversation(me(), cid))


@bp.patch("/conversations/<conversation_id>")
@login_required
def update_conversation(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    body = parse(rest.UpdateConversationRequest, json_body())
    conversation = conversations.update_group(
        me(), cid, unset_to_missing(body.name), unset_to_missing(body.visibility), unset_to_missing(body.posting)
    )
    return answer(rest.ConversationAnswer, conversation=conversation)


@bp.patch("/conversations/<conversation_id>/settings")
@login_required
def update_settings(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    body = parse(rest.SettingsRequest, json_body())
    conversation = notification_settings.update_settings(
        me(), cid, unset_to_missing(body.notifications), unset_to_missing(body.muted_until)
    )
    return answer(rest.ConversationAnswer, conversation=conversation)


@bp.post("/conversations/<conversation_id>/read")
@login_required
def mark_read(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    return answer(rest.ReadAnswer, **receipts.mark_read(me(), cid, parse(rest.SeqRequest, json_body()).seq))


@bp.post("/conversations/<conversation_id>/delivered")
@login_required
def mark_delivered(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    return answer(rest.DeliveredAnswer, **receipts.mark_delivered(me(), cid, parse(rest.SeqRequest, json_body()).seq))


@bp.get("/rooms")
@login_required
def list_rooms() -> ResponseReturnValue:
    return answer(rest.RoomsAnswer, rooms=conversations.list_rooms(me(), request.args.get("q")))


@bp.post("/conversations/<conversation_id>/join")
@login_required
def join(conversation_id: str) -> ResponseReturnValue:
    parse(rest.EmptyRequest, optional_json_body())
    cid = path_id(conversation_id, "conversation_id")
    return answer(rest.ConversationAnswer, conversation=conversations.join(me(), cid))


@bp.post("/conversations/<conversation_id>/members")
@login_required
def add_member(conversation_id: str) -> ResponseReturnValue:
    cid = path_id(conversation_id, "conversation_id")
    conversation = conversations.add_member(me(), cid, parse(rest.UserIdRequest, json_body()).user_id)
    return answer(rest.ConversationAnswer, conversation=conversation)


@bp.patch("/conversations/<conversation_id>/members/<user_id>")
@login_required
def set_role(conversation_id: str, user_id: str) -> ResponseReturnValue:
    cid, uid = path_id(conversation_id, "conversation_id"), path_id(user_id, "user_id")
    conversation = conversations.set_role(me(), cid, uid, parse(rest.RoleRequest, json_body()).role)
    return answer(rest.ConversationAnswer, conversation=conversation)


@bp.delete("/conversations/<conversation_id>/members/<user_id>")
@login_required
def remove_member(conversation_id: str, user_id: str) -> ResponseReturnValue:
    cid, uid = path_id(conversation_id, "conversation_id"), path_id(user_id, "user_id")
    conversations.remove_member(me(), cid, uid)
    return "", 204
