from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import login_required

from ..services import conversations, receipts
from ..services.errors import field_error
from ..services.validation import MISSING, query_int
from .http import json_body, optional_json_body, path_id
from .principal import me

bp = Blueprint("conversations", __name__, url_prefix="/api/v1")


@bp.get("/conversations")
@login_required
def list_conversations():
    limit = query_int(request.args.get("limit"), "limit", minimum=1)
    items, next_cursor = conversations.list_conversations(me(), limit, request.args.get("cursor"))
    return jsonify({"conversations": items, "next_cursor": next_cursor})


@bp.post("/conversations")
@login_required
def create_conversation():
    data = json_body()
    kind = data.get("type", MISSING)
    if kind == "direct":
        conversation, created = conversations.open_direct(me(), data.get("user_id", MISSING))
        return jsonify({"conversation": conversation}), 201 if created else 200
    if kind == "group":
        conversation = conversations.create_group(
            me(), data.get("name", MISSING), data.get("member_ids", MISSING),
            data.get("visibility", MISSING), data.get("posting", MISSING),
        )
        return jsonify({"conversation": conversation}), 201
    raise field_error("type", "must be direct or group")


@bp.get("/conversations/<conversation_id>")
@login_required
def get_conversation(conversation_id: str):
    cid = path_id(conversation_id, "conversation_id")
    return jsonify({"conversation": conversations.get_conversation(me(), cid)})


@bp.patch("/conversations/<conversation_id>")
@login_required
def update_conversation(conversation_id: str):
    cid = path_id(conversation_id, "conversation_id")
    data = json_body()
    conversation = conversations.update_group(
        me(), cid, data.get("name", MISSING), data.get("visibility", MISSING), data.get("posting", MISSING)
    )
    return jsonify({"conversation": conversation})


@bp.post("/conversations/<conversation_id>/read")
@login_required
def mark_read(conversation_id: str):
    cid = path_id(conversation_id, "conversation_id")
    return jsonify(receipts.mark_read(me(), cid, json_body().get("seq", MISSING)))


@bp.post("/conversations/<conversation_id>/delivered")
@login_required
def mark_delivered(conversation_id: str):
    cid = path_id(conversation_id, "conversation_id")
    return jsonify(receipts.mark_delivered(me(), cid, json_body().get("seq", MISSING)))


@bp.get("/rooms")
@login_required
def list_rooms():
    return jsonify({"rooms": conversations.list_rooms(me(), request.args.get("q"))})


@bp.post("/conversations/<conversation_id>/join")
@login_required
def join(conversation_id: str):
    optional_json_body()
    cid = path_id(conversation_id, "conversation_id")
    return jsonify({"conversation": conversations.join(me(), cid)})


@bp.post("/conversations/<conversation_id>/members")
@login_required
def add_member(conversation_id: str):
    cid = path_id(conversation_id, "conversation_id")
    conversation = conversations.add_member(me(), cid, json_body().get("user_id", MISSING))
    return jsonify({"conversation": conversation})


@bp.patch("/conversations/<conversation_id>/members/<user_id>")
@login_required
def set_role(conversation_id: str, user_id: str):
    cid, uid = path_id(conversation_id, "conversation_id"), path_id(user_id, "user_id")
    conversation = conversations.set_role(me(), cid, uid, json_body().get("role", MISSING))
    return jsonify({"conversation": conversation})


@bp.delete("/conversations/<conversation_id>/members/<user_id>")
@login_required
def remove_member(conversation_id: str, user_id: str):
    cid, uid = path_id(conversation_id, "conversation_id"), path_id(user_id, "user_id")
    conversations.remove_member(me(), cid, uid)
    return "", 204
