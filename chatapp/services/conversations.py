"""Conversations: direct pairs, groups with roles, public rooms, the list."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import and_, bindparam, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Conversation, Membership, Message, User
from ..models.conversation import DIRECT, GROUP
from ..timeutil import iso, parse_iso, utcnow
from . import events, presence
from .errors import Forbidden, NotFound, ValidationError, field_error
from .validation import MISSING, choice, entity_id, id_list, integer, string, text

VISIBILITIES = ("private", "public")
POSTING = ("all", "admins")
ROLES = ("owner", "admin", "member")
MANAGERS = ("owner", "admin")


# ---------------------------------------------------------------- lookups


def get_visible(user: User, conversation_id: object) -> tuple[Conversation, Membership | None]:
    """The conversation and the caller's membership. Non-members see public
    rooms only; anything else is ``not_found`` so existence does not leak."""
    cid = entity_id(conversation_id, "conversation_id")
    conversation = db.session.get(Conversation, cid)
    if conversation is None:
        raise NotFound("no such conversation")
    member = find_membership(conversation, user.id)
    if member is None and not is_public(conversation):
        raise NotFound("no such conversation")
    return conversation, member


# Read access alone, without loading the conversation and its members: the
# scroll-back path asks this once per page.
_READ_ACCESS = (
    select(Conversation.type, Conversation.visibility, Membership.user_id)
    .outerjoin(
        Membership, and_(Membership.conversation_id == Conversation.id, Membership.user_id == bindparam("p_uid"))
    )
    .where(Conversation.id == bindparam("p_cid"))
)


def readable_id(user: User, conversation_id: object) -> int:
    """The id of a conversation ``user`` may read (same rule as ``get_visible``), in one Core query."""
    cid = entity_id(conversation_id, "conversation_id")
    row = db.session.connection().execute(_READ_ACCESS, {"p_cid": cid, "p_uid": user.id}).first()
    if row is None or (row.user_id is None and not _public(row.type, row.visibility)):
        raise NotFound("no such conversation")
    return cid


def get_member(user: User, conversation_id: object) -> tuple[Conversation, Membership]:
    """As ``get_visible`` but the caller must be a member (``forbidden`` for a public room's visitor)."""
    conversation, member = get_visible(user, conversation_id)
    if member is None:
        raise Forbidden("join this room first")
    return conversation, member


def find_membership(conversation: Conversation, user_id: int) -> Membership | None:
    for member in conversation.memberships:
        if member.user_id == user_id:
            return member
    return None


def is_public(conversation: Conversation) -> bool:
    return _public(conversation.type, conversation.visibility)


def _public(kind: str, visibility: str | None) -> bool:
    """Public rooms are readable (not writable) by non-members."""
    return kind == GROUP and visibility == "public"


def member_ids(conversation: Conversation) -> list[int]:
    return [m.user_id for m in conversation.memberships]


# ---------------------------------------------------------------- rendering


def to_dicts(conversations: list[Conversation], viewer_id: int) -> list[dict]:
    """Contract Conversation objects for one viewer, in few queries."""
    if not conversations:
        return []
    pairs = [(c.id, c.last_seq) for c in conversations if c.last_seq > 0]
    last_messages: dict[int, Message] = {}
    if pairs:
        stmt = select(Message).where(tuple_(Message.conversation_id, Message.seq).in_(pairs))
        last_messages = {m.conversation_id: m for m in db.session.scalars(stmt)}
    all_users = {m.user_id: m.user for c in conversations for m in c.memberships}
    online = presence.online_ids(all_users)
    return [_render(c, viewer_id, last_messages.get(c.id), online) for c in conversations]


def to_dict(conversation: Conversation, viewer_id: int) -> dict:
    return to_dicts([conversation], viewer_id)[0]


def _render(conversation: Conversation, viewer_id: int, last: Message | None, online: set[int]) -> dict:
    mine = find_membership(conversation, viewer_id)
    members = sorted(conversation.memberships, key=lambda m: m.user_id)
    data = {
        "id": conversation.id,
        "type": conversation.type,
        "name": conversation.name,
        "members": [m.user.to_dict(online=m.user_id in online) for m in members],
        "last_seq": conversation.last_seq,
        "last_message": last.to_dict() if last else None,
        "unread_count": mine.unread_count if mine else 0,
        "last_read_seq": mine.last_read_seq if mine else 0,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
        # Extension: each member's read and delivered positions, for ticks.
        "receipts": {
            str(m.user_id): {"last_read_seq": m.last_read_seq, "delivered_seq": m.delivered_seq} for m in members
        },
        "is_member": mine is not None,
    }
    if conversation.type == GROUP:
        data["visibility"] = conversation.visibility
        data["posting"] = conversation.posting
        data["roles"] = {str(m.user_id): m.role for m in members}
    return data


def _viewer_overlay(base: dict, member: Membership) -> dict:
    return {**base, "unread_count": member.unread_count, "last_read_seq": member.last_read_seq, "is_member": True}


def publish_to_members(name: str, conversation: Conversation, *, exclude: Iterable[int] = ()) -> None:
    """``conversation:new``/``updated`` for each member, with their own counts."""
    skip = set(exclude)
    base = to_dict(conversation, viewer_id=0)
    for member in conversation.memberships:
        if member.user_id not in skip:
            events.on_commit(name, {"conversation": _viewer_overlay(base, member)}, users=[member.user_id])


# ---------------------------------------------------------------- list


def list_conversations(user: User, limit: object, cursor: object) -> tuple[list[dict], str | None]:
    count = _limit(limit, default=50, maximum=100)
    stmt = (
        select(Conversation)
        .join(Membership, Membership.conversation_id == Conversation.id)
        .where(Membership.user_id == user.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    if cursor not in (None, "", MISSING):
        at, cid = _decode_cursor(cursor)
        stmt = stmt.where(
            or_(Conversation.updated_at < at, and_(Conversation.updated_at == at, Conversation.id < cid))
        )
    rows = list(db.session.scalars(stmt.limit(count + 1)))
    page, more = rows[:count], len(rows) > count
    next_cursor = _encode_cursor(page[-1]) if more and page else None
    return to_dicts(page, user.id), next_cursor


def _encode_cursor(conversation: Conversation) -> str:
    raw = f"{iso(conversation.updated_at)}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(value: object):
    if not isinstance(value, str) or len(value) > 200:
        raise field_error("cursor", "malformed")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, cid = raw.split("|")
        return parse_iso(stamp), int(cid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise field_error("cursor", "malformed") from None


def _limit(value: object, *, default: int, maximum: int) -> int:
    if value in (None, MISSING):
        return default
    number = integer(value, "limit", minimum=1)
    assert number is not None
    return min(number, maximum)


# ---------------------------------------------------------------- create


def open_direct(user: User, other_id: object) -> tuple[dict, bool]:
    """The one direct conversation of a pair; created=False when it existed."""
    oid = entity_id(other_id, "user_id")
    other = db.session.get(User, oid)
    if other is None or not other.active:
        raise NotFound("no such user")
    low, high = sorted((user.id, oid))
    key = f"{low}:{high}"
    existing = db.session.scalar(select(Conversation).where(Conversation.direct_key == key))
    if existing is not None:
        return to_dict(existing, user.id), False
    conversation = Conversation(type=DIRECT, direct_key=key)
    conversation.memberships = [Membership(user_id=uid, role="member") for uid in sorted({low, high})]
    db.session.add(conversation)
    try:
        db.session.flush()
    except IntegrityError:
        # Both people opened the chat at the same instant: the other insert won.
        db.session.rollback()
        existing = db.session.scalar(select(Conversation).where(Conversation.direct_key == key))
        if existing is None:
            raise
        return to_dict(existing, user.id), False
    publish_to_members("conversation:new", conversation)
    data = to_dict(conversation, user.id)
    db.session.commit()
    return data, True


def create_group(
    user: User, name: object, member_ids_value: object, visibility: object = MISSING, posting: object = MISSING
) -> dict:
    cfg = current_app.config
    title = text(name, "name", max_chars=cfg["MAX_GROUP_NAME_CHARS"])
    ids = id_list(member_ids_value, "member_ids", max_items=cfg["MAX_GROUP_MEMBERS"])
    vis = choice(visibility, "visibility", VISIBILITIES, "private")
    post = choice(posting, "posting", POSTING, "all")
    others = [uid for uid in ids if uid != user.id]
    if others:
        found = set(db.session.scalars(select(User.id).where(User.id.in_(others), User.active.is_(True))))
        missing = [uid for uid in others if uid not in found]
        if missing:
            raise NotFound(f"no such user: {missing[0]}")
    conversation = Conversation(type=GROUP, name=title, visibility=vis, posting=post)
    conversation.memberships = [Membership(user_id=user.id, role="owner")] + [
        Membership(user_id=uid, role="member") for uid in others
    ]
    db.session.add(conversation)
    db.session.flush()
    publish_to_members("conversation:new", conversation)
    data = to_dict(conversation, user.id)
    db.session.commit()
    return data


def get_conversation(user: User, conversation_id: object) -> dict:
    conversation, _ = get_visible(user, conversation_id)
    return to_dict(conversation, user.id)


# ---------------------------------------------------------------- rooms and members


def list_rooms(user: User, query: object) -> list[dict]:
    q = (string(query, "q", required=False) or "").strip().lower()
    counts = (
        select(Membership.conversation_id, func.count().label("n"))
        .group_by(Membership.conversation_id)
        .subquery()
    )
    stmt = (
        select(Conversation, counts.c.n)
        .join(counts, counts.c.conversation_id == Conversation.id, isouter=True)
        .where(Conversation.type == GROUP, Conversation.visibility == "public")
        .order_by(Conversation.name, Conversation.id)
        .limit(200)
    )
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(Conversation.name).like(f"%{escaped}%", escape="\\"))
    rows = list(db.session.execute(stmt))
    everyone = {m.user_id for conv, _ in rows for m in conv.memberships}
    online = presence.online_ids(everyone)
    return [
        {
            "id": conv.id,
            "name": conv.name,
            "member_count": n or 0,
            "online_count": sum(1 for m in conv.memberships if m.user_id in online),
            "is_member": find_membership(conv, user.id) is not None,
        }
        for conv, n in rows
    ]


def _require_group(conversation: Conversation) -> None:
    if conversation.type != GROUP:
        raise ValidationError("only groups have members to manage")


def _require_manager(member: Membership | None) -> None:
    if member is None or member.role not in MANAGERS:
        raise Forbidden("only the group's owner or admins may do this")


def join(user: User, conversation_id: object) -> dict:
    conversation, member = get_visible(user, conversation_id)
    if member is not None:
        return to_dict(conversation, user.id)
    # Only public rooms are visible to non-members, so this is a public room.
    _add(conversation, user.id)
    return _finish_membership_change(conversation, user.id)


def add_member(actor: User, conversation_id: object, user_id: object) -> dict:
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    _require_manager(member)
    uid = entity_id(user_id, "user_id")
    target = db.session.get(User, uid)
    if target is None or not target.active:
        raise NotFound("no such user")
    if find_membership(conversation, uid) is not None:
        return to_dict(conversation, actor.id)
    if len(conversation.memberships) >= current_app.config["MAX_GROUP_MEMBERS"]:
        raise ValidationError("the group is full")
    _add(conversation, uid)
    return _finish_membership_change(conversation, actor.id, joined=uid)


def _add(conversation: Conversation, user_id: int) -> None:
    # Old history is not unread for someone who just arrived.
    membership = Membership(user_id=user_id, role="member", last_read_seq=conversation.last_seq, unread_count=0)
    conversation.memberships.append(membership)
    conversation.updated_at = utcnow()
    db.session.flush()


def _finish_membership_change(conversation: Conversation, viewer_id: int, joined: int | None = None) -> dict:
    newcomer = joined if joined is not None else viewer_id
    new_member = find_membership(conversation, newcomer)
    assert new_member is not None
    user_dict = presence.user_dict(new_member.user)
    events.on_commit(
        "member:joined", {"conversation_id": conversation.id, "user": user_dict}, users=member_ids(conversation)
    )
    publish_to_members("conversation:updated", conversation, exclude=[newcomer])
    base = to_dict(conversation, viewer_id=0)
    events.on_commit("conversation:new", {"conversation": _viewer_overlay(base, new_member)}, users=[newcomer])
    data = to_dict(conversation, viewer_id)
    db.session.commit()
    return data


def remove_member(actor: User, conversation_id: object, user_id: object) -> None:
    """Owner/admin removes someone; anyone removes themselves (leave)."""
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    uid = entity_id(user_id, "user_id")
    target = find_membership(conversation, uid)
    if uid != actor.id:
        _require_manager(member)
        if target is None:
            raise NotFound("not a member")
        if target.role == "owner" or (target.role == "admin" and member.role != "owner"):
            raise Forbidden("admins cannot remove the owner or other admins")
    assert target is not None
    left_user = presence.user_dict(target.user)
    everyone = member_ids(conversation)
    if target.role == "owner":
        _hand_over_ownership(conversation, leaving=uid)
    had_unread = target.unread_count > 0
    conversation.memberships.remove(target)
    conversation.updated_at = utcnow()
    db.session.flush()
    events.on_commit("member:left", {"conversation_id": conversation.id, "user": left_user}, users=everyone)
    publish_to_members("conversation:updated", conversation)
    if had_unread:
        # Their badge loses this conversation's unread messages.
        from .receipts import total_unread

        badge = {"conversation_id": conversation.id, "unread_count": 0, "total_unread": total_unread(uid)}
        events.on_commit("unread", badge, users=[uid])
    db.session.commit()


def _hand_over_ownership(conversation: Conversation, leaving: int) -> None:
    """A group always has an owner while it has members: the longest-serving admin, else member."""
    rest = [m for m in conversation.memberships if m.user_id != leaving]
    if not rest:
        return
    rank = {"admin": 0, "member": 1}
    successor = min(rest, key=lambda m: (rank.get(m.role, 2), m.joined_at, m.user_id))
    successor.role = "owner"


def update_group(actor: User, conversation_id: object, name: object, visibility: object, posting: object) -> dict:
    """Rename, or change visibility/posting: owner and admins."""
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    _require_manager(member)
    cfg = current_app.config
    if name is not MISSING:
        conversation.name = text(name, "name", max_chars=cfg["MAX_GROUP_NAME_CHARS"])
    if visibility is not MISSING:
        conversation.visibility = choice(visibility, "visibility", VISIBILITIES, conversation.visibility)
    if posting is not MISSING:
        conversation.posting = choice(posting, "posting", POSTING, conversation.posting)
    return _commit_group_change(conversation, actor.id)


def set_role(actor: User, conversation_id: object, user_id: object, role: object) -> dict:
    """The owner promotes or demotes; making someone owner hands ownership over."""
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    if member.role != "owner":
        raise Forbidden("only the owner may change roles")
    uid = entity_id(user_id, "user_id")
    new_role = choice(role, "role", ROLES, "")
    if not new_role:
        raise field_error("role", "required")
    target = find_membership(conversation, uid)
    if target is None:
        raise NotFound("not a member")
    if uid == actor.id:
        raise ValidationError("hand ownership to someone else instead")
    if new_role == "owner":
        member.role = "admin"
    target.role = new_role
    return _commit_group_change(conversation, actor.id)


def _commit_group_change(conversation: Conversation, viewer_id: int) -> dict:
    """Name, settings or roles changed: bump activity, tell every member, commit."""
    conversation.updated_at = utcnow()
    db.session.flush()
    publish_to_members("conversation:updated", conversation)
    data = to_dict(conversation, viewer_id)
    db.session.commit()
    return data
