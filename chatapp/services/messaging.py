"""Messages: send (idempotent by client_id), edit, delete, react, history, sync."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Integer, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Conversation, Membership, Message, Reaction, User
from ..timeutil import iso, utcnow
from . import events, ratelimit
from .conversations import get_member, get_visible, member_ids, readable_id
from .errors import Conflict, Forbidden, NotFound, ValidationError, field_error
from .validation import MISSING, entity_id, integer, require_object, string, text
from .validation import client_id as parse_client_id

MAX_SYNC_CURSORS = 1000


def _body(value: object) -> str:
    return text(value, "body", max_chars=current_app.config["MAX_BODY_CHARS"])


# ---------------------------------------------------------------- send


# The send path is the hot path (thousands per second): pre-built Core
# statements, compiled once and cached by SQLAlchemy, no ORM unit of work.
_MESSAGES = Message.__table__
_SENDER_STATE = (
    select(Conversation.posting, Membership.role, Membership.last_read_seq)
    .join(Membership, Membership.conversation_id == Conversation.id)
    .where(Conversation.id == bindparam("p_cid"), Membership.user_id == bindparam("p_uid"))
)
_BY_CLIENT_ID = select(Message.id).where(
    Message.conversation_id == bindparam("p_cid"),
    Message.sender_id == bindparam("p_uid"),
    Message.client_id == bindparam("p_key"),
)
# Allocate the seq inside this transaction: the row update serialises
# concurrent senders, and a rollback returns the number (no gaps).
_NEXT_SEQ = (
    update(Conversation)
    .where(Conversation.id == bindparam("p_cid"))
    .values(last_seq=Conversation.last_seq + 1, updated_at=bindparam("p_now"))
    .returning(Conversation.last_seq)
)
_INSERT = insert(_MESSAGES).returning(_MESSAGES.c.id)
# Every other member gains one unread; RETURNING names the recipients too.
_BUMP_UNREAD = (
    update(Membership)
    .where(Membership.conversation_id == bindparam("p_cid"), Membership.user_id != bindparam("p_uid"))
    .values(unread_count=Membership.unread_count + 1)
    .returning(Membership.user_id, Membership.unread_count)
)
# Sending marks the sender as having read (and received) up to their own message.
_SENDER_READ = (
    update(Membership)
    .where(Membership.conversation_id == bindparam("p_cid"), Membership.user_id == bindparam("p_uid"))
    .values(last_read_seq=bindparam("p_seq"), delivered_seq=bindparam("p_seq"), unread_count=0)
)
_TOTALS = (
    select(Membership.user_id, func.sum(Membership.unread_count))
    .where(Membership.user_id.in_(bindparam("p_uids", expanding=True)))
    .group_by(Membership.user_id)
)


def send_message(sender: User, conversation_id: object, body: object, client_id: object) -> tuple[dict, bool]:
    """Persist and fan out a message. Returns (message, created); a repeated
    ``client_id`` from the same sender returns the original and emits nothing."""
    cid = entity_id(conversation_id, "conversation_id")
    text_body = _body(body)
    key = parse_client_id(client_id)
    conn = db.session.connection()
    state = conn.execute(_SENDER_STATE, {"p_cid": cid, "p_uid": sender.id}).first()
    if state is None:
        get_member(sender, cid)  # raises the precise error: not_found, or forbidden for a public room
        raise NotFound("no such conversation")
    posting, role, last_read_seq = state
    original_id = conn.execute(_BY_CLIENT_ID, {"p_cid": cid, "p_uid": sender.id, "p_key": key}).scalar()
    if original_id is not None:
        return db.session.get(Message, original_id).to_dict(), False
    if posting == "admins" and role not in ("owner", "admin"):
        raise Forbidden("only admins may post in this room")
    ratelimit.check_message(sender.id)
    now = utcnow()
    try:
        seq = conn.execute(_NEXT_SEQ, {"p_cid": cid, "p_now": now}).scalar_one()
        row = {"conversation_id": cid, "seq": seq, "sender_id": sender.id, "body": text_body, "client_id": key,
               "created_at": now, "deleted": False}
        message_id = conn.execute(_INSERT, row).scalar_one()
    except IntegrityError:
        # A concurrent resend with the same client_id won the race.
        db.session.rollback()
        original = _find_by_client_id(cid, sender.id, key)
        if original is None:
            raise
        return original.to_dict(), False
    unread = dict(conn.execute(_BUMP_UNREAD, {"p_cid": cid, "p_uid": sender.id}).all())
    conn.execute(_SENDER_READ, {"p_cid": cid, "p_uid": sender.id, "p_seq": seq})
    data = {
        "id": message_id, "conversation_id": cid, "seq": seq, "sender_id": sender.id, "body": text_body,
        "client_id": key, "created_at": iso(now), "edited_at": None, "deleted": False, "reactions": {},
    }
    members = [*unread, sender.id]
    events.on_commit("message:new", {"message": data}, users=members)
    had_unread = last_read_seq < seq - 1
    notify = list(unread) + ([sender.id] if had_unread else [])
    totals = dict(conn.execute(_TOTALS, {"p_uids": notify}).all()) if notify else {}
    for uid, count in unread.items():
        payload = {"conversation_id": cid, "unread_count": count, "total_unread": int(totals.get(uid, 0))}
        events.on_commit("unread", payload, users=[uid])
    if had_unread:
        events.on_commit("read", {"conversation_id": cid, "user_id": sender.id, "seq": seq}, users=members)
        payload = {"conversation_id": cid, "unread_count": 0, "total_unread": int(totals.get(sender.id, 0))}
        events.on_commit("unread", payload, users=[sender.id])
    db.session.commit()
    return data, True


def _find_by_client_id(conversation_id: int, sender_id: int, key: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.sender_id == sender_id, Message.client_id == key
        )
    )


def _queue_unread(conversation_id: int, user_ids: list[int]) -> None:
    """``unread`` to each user's devices, with the conversation and total counts."""
    if not user_ids:
        return
    rows = db.session.execute(
        select(Membership.user_id, Membership.conversation_id, Membership.unread_count).where(
            Membership.user_id.in_(user_ids)
        )
    )
    totals: dict[int, int] = dict.fromkeys(user_ids, 0)
    this: dict[int, int] = dict.fromkeys(user_ids, 0)
    for uid, conv_id, count in rows:
        totals[uid] += count
        if conv_id == conversation_id:
            this[uid] = count
    for uid in user_ids:
        payload = {"conversation_id": conversation_id, "unread_count": this[uid], "total_unread": totals[uid]}
        events.on_commit("unread", payload, users=[uid])


# ---------------------------------------------------------------- edit, delete, react


def _message_for(user: User, message_id: object) -> tuple[Message, Conversation, Membership | None]:
    mid = entity_id(message_id, "message_id")
    message = db.session.get(Message, mid)
    if message is None:
        raise NotFound("no such message")
    try:
        conversation, member = get_visible(user, message.conversation_id)
    except NotFound:
        raise NotFound("no such message") from None
    return message, conversation, member


def edit_message(user: User, message_id: object, body: object) -> dict:
    message, conversation, member = _message_for(user, message_id)
    new_body = _body(body)
    if member is None:
        # A public room's history is readable by anyone, editable by members only
        # (someone who left keeps no power over the room).
        raise Forbidden("join this room first")
    if message.sender_id != user.id:
        raise Forbidden("only the sender may edit a message")
    if message.deleted:
        raise Conflict("the message was deleted")
    if new_body != message.body:
        message.body = new_body
        message.edited_at = utcnow()
        db.session.flush()
        data = message.to_dict()
        events.on_commit("message:updated", {"message": data}, users=member_ids(conversation))
    data = message.to_dict()
    db.session.commit()
    return data


def delete_message(user: User, message_id: object) -> None:
    """Soft delete: the message keeps its id and seq; deleting twice is a no-op."""
    message, conversation, member = _message_for(user, message_id)
    if member is None:
        raise Forbidden("join this room first")
    if message.sender_id != user.id:
        is_manager = conversation.type == "group" and member is not None and member.role in ("owner", "admin")
        if not is_manager:
            raise Forbidden("only the sender or a group admin may delete this message")
    if message.deleted:
        return
    message.deleted = True
    message.body = ""
    message.reactions.clear()
    # Deleted messages do not count as unread.
    affected = list(
        db.session.scalars(
            select(Membership.user_id).where(
                Membership.conversation_id == conversation.id,
                Membership.user_id != message.sender_id,
                Membership.last_read_seq < message.seq,
                Membership.unread_count > 0,
            )
        )
    )
    if affected:
        db.session.execute(
            update(Membership)
            .where(Membership.conversation_id == conversation.id, Membership.user_id.in_(affected))
            .values(unread_count=Membership.unread_count - 1)
        )
    db.session.flush()
    payload = {"conversation_id": conversation.id, "message_id": message.id, "seq": message.seq}
    events.on_commit("message:deleted", payload, users=member_ids(conversation))
    _queue_unread(conversation.id, affected)
    db.session.commit()


def _emoji(value: object) -> str:
    emoji = string(value, "emoji")
    assert emoji is not None
    emoji = emoji.strip()
    if not 1 <= len(emoji) <= current_app.config["MAX_EMOJI_CHARS"] or any(ch.isspace() for ch in emoji):
        raise field_error("emoji", "1 to 16 characters without spaces")
    return emoji


def react(user: User, message_id: object, emoji: object, *, add: bool) -> dict:
    message, conversation, member = _message_for(user, message_id)
    key = _emoji(emoji)
    if member is None:
        raise Forbidden("join this room first")
    if message.deleted:
        raise Conflict("the message was deleted")
    existing = next((r for r in message.reactions if r.user_id == user.id and r.emoji == key), None)
    changed = False
    if add and existing is None:
        message.reactions.append(Reaction(user_id=user.id, emoji=key, created_at=utcnow()))
        changed = True
    elif not add and existing is not None:
        message.reactions.remove(existing)
        changed = True
    if changed:
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()  # the same reaction added twice at once
            return db.session.get(Message, message.id).to_dict()
        events.on_commit("message:updated", {"message": message.to_dict()}, users=member_ids(conversation))
    data = message.to_dict()
    db.session.commit()
    return data


# ---------------------------------------------------------------- read paths


# Keyset pagination on the (conversation_id, seq) unique index, never OFFSET;
# pre-built Core statements, no ORM objects: this is the scroll-back hot path.
_IN_CONVERSATION = _MESSAGES.c.conversation_id == bindparam("p_cid")
_PAGE_LIMIT = bindparam("p_limit", type_=Integer)
_PAGE_LATEST = select(*_MESSAGES.c).where(_IN_CONVERSATION).order_by(_MESSAGES.c.seq.desc()).limit(_PAGE_LIMIT)
_PAGE_BEFORE = (
    select(*_MESSAGES.c)
    .where(_IN_CONVERSATION, _MESSAGES.c.seq < bindparam("p_seq"))
    .order_by(_MESSAGES.c.seq.desc())
    .limit(_PAGE_LIMIT)
)
_PAGE_AFTER = (
    select(*_MESSAGES.c)
    .where(_IN_CONVERSATION, _MESSAGES.c.seq > bindparam("p_seq"))
    .order_by(_MESSAGES.c.seq)
    .limit(_PAGE_LIMIT)
)


def history(
    user: User, conversation_id: object, before: object, after: object, limit: object
) -> tuple[list[dict], bool]:
    """A page in ascending seq: before a seq, after a seq, or the latest."""
    cfg = current_app.config
    before_seq = integer(before, "before", minimum=0, required=False)
    after_seq = integer(after, "after", minimum=0, required=False)
    if before_seq is not None and after_seq is not None:
        raise ValidationError("use before or after, not both", fields={"before": "conflicts with after"})
    count = _clamp(limit, cfg["HISTORY_DEFAULT_LIMIT"], cfg["HISTORY_MAX_LIMIT"])
    cid = readable_id(user, conversation_id)
    if after_seq is not None:
        stmt, params = _PAGE_AFTER, {"p_seq": after_seq}
    elif before_seq is not None:
        stmt, params = _PAGE_BEFORE, {"p_seq": before_seq}
    else:
        stmt, params = _PAGE_LATEST, {}
    rows = db.session.connection().execute(stmt, {"p_cid": cid, "p_limit": count + 1, **params}).mappings().all()
    page = list(rows[:count])
    if after_seq is None:
        page.reverse()
    return rows_to_dicts(page), len(rows) > count


_REACTIONS = Reaction.__table__
_REACTIONS_OF = (
    select(_REACTIONS.c.message_id, _REACTIONS.c.emoji, _REACTIONS.c.user_id)
    .where(_REACTIONS.c.message_id.in_(bindparam("p_ids", expanding=True)))
    .order_by(_REACTIONS.c.created_at)
)


def rows_to_dicts(rows: list) -> list[dict]:
    """Message rows to contract dicts, with their reactions in one query."""
    live_ids = [row["id"] for row in rows if not row["deleted"]]
    reactions: dict[int, dict[str, list[int]]] = {}
    if live_ids:
        for message_id, emoji, user_id in db.session.connection().execute(_REACTIONS_OF, {"p_ids": live_ids}):
            reactions.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
    return [
        {
            "id": row["id"],
            "conversation_id": row["conversation_id"],
            "seq": row["seq"],
            "sender_id": row["sender_id"],
            "body": "" if row["deleted"] else row["body"],
            "client_id": row["client_id"],
            "created_at": iso(row["created_at"]),
            "edited_at": iso(row["edited_at"]),
            "deleted": row["deleted"],
            "reactions": reactions.get(row["id"], {}),
        }
        for row in rows
    ]


def sync(user: User, cursors: object, limit: object) -> tuple[list[dict], bool]:
    """Everything after each cursor, oldest first per conversation, capped in total."""
    cfg = current_app.config
    mapping = require_object(cursors) if cursors is not MISSING else {}
    if cursors is MISSING or cursors is None:
        raise field_error("cursors", "required")
    if not isinstance(cursors, dict):
        raise field_error("cursors", "must be an object of conversation id to seq")
    if len(mapping) > MAX_SYNC_CURSORS:
        raise field_error("cursors", f"at most {MAX_SYNC_CURSORS} conversations")
    total = _clamp(limit, cfg["SYNC_DEFAULT_LIMIT"], cfg["SYNC_MAX_LIMIT"])
    parsed: dict[int, int] = {}
    for raw_id, seen in mapping.items():
        if not isinstance(raw_id, str) or not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 18:
            raise field_error("cursors", f"malformed conversation id {raw_id!r:.40}")
        seq = integer(seen, f"cursors.{raw_id}", minimum=0)
        assert seq is not None
        parsed[int(raw_id)] = seq
    visible = _visible_ids(user, list(parsed))
    messages: list[dict] = []
    has_more = False
    for conv_id in sorted(visible):
        room = total - len(messages)
        if room <= 0:
            has_more = True
            break
        stmt = (
            select(*_MESSAGES.c)
            .where(_MESSAGES.c.conversation_id == conv_id, _MESSAGES.c.seq > parsed[conv_id])
            .order_by(_MESSAGES.c.seq)
            .limit(room + 1)
        )
        rows = db.session.connection().execute(stmt).mappings().all()
        if len(rows) > room:
            has_more = True
        messages.extend(rows_to_dicts(list(rows[:room])))
    return messages, has_more


def _visible_ids(user: User, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    member_of = set(
        db.session.scalars(
            select(Membership.conversation_id).where(Membership.user_id == user.id, Membership.conversation_id.in_(ids))
        )
    )
    public = set(
        db.session.scalars(
            select(Conversation.id).where(
                Conversation.id.in_(ids), Conversation.type == "group", Conversation.visibility == "public"
            )
        )
    )
    return member_of | public


def _clamp(value: object, default: int, maximum: int) -> int:
    if value is None or value is MISSING:
        return default
    number = integer(value, "limit", minimum=1)
    assert number is not None
    return min(number, maximum)
