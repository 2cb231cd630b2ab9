"""Conversations: direct pairs, groups with roles, public rooms, the list."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from flask import current_app
from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..contract import events as contract_events
from ..contract import limits
from ..contract import objects as contract
from ..contract.objects import UNSET, as_dict
from ..extensions import db
from ..models import Conversation, Departure, Membership, Message, User
from ..models.conversation import DIRECT, GROUP
from ..timeutil import iso, parse_iso, utcnow
from . import blocks, events, presence, ratelimit, versions
from .errors import Forbidden, NotFound, ValidationError, field_error
from .validation import MISSING, choice, clamp_limit, entity_id, escape_like, id_list, string, text

# The vocabularies are the contract's (written once in chatapp/contract/limits.py).
VISIBILITIES, POSTING, ROLES, MANAGERS = limits.VISIBILITIES, limits.POSTING, limits.ROLES, limits.MANAGERS


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
    if row is None or (row.user_id is None and not is_public_kind(row.type, row.visibility)):
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
    return is_public_kind(conversation.type, conversation.visibility)


def is_public_kind(kind: str, visibility: str | None) -> bool:
    """Public rooms are readable (not writable) by non-members."""
    return kind == GROUP and visibility == "public"


def member_ids(conversation: Conversation) -> list[int]:
    return [m.user_id for m in conversation.memberships]


# ---------------------------------------------------------------- rendering


def to_dicts(conversations: list[Conversation], viewer_id: int) -> list[dict[str, Any]]:
    """Contract Conversation objects (as dicts) for one viewer, in few queries."""
    return [as_dict(c) for c in to_objects(conversations, viewer_id)]


def to_objects(conversations: list[Conversation], viewer_id: int) -> list[contract.Conversation]:
    """Contract Conversation objects for one viewer, in few queries."""
    if not conversations:
        return []
    with_messages = [c.id for c in conversations if c.last_seq > 0]
    last_messages: dict[int, Message] = {}
    if with_messages:
        # A join on (conversation_id, last_seq), one unique-index probe per
        # conversation; a row-value IN list made SQLite scan the whole table
        # (0.36 s for 50 conversations at 1 M messages).
        stmt = (
            select(Message)
            .join(Conversation, and_(Message.conversation_id == Conversation.id, Message.seq == Conversation.last_seq))
            .where(Conversation.id.in_(with_messages))
        )
        last_messages = {m.conversation_id: m for m in db.session.scalars(stmt)}
    all_users = {m.user_id: m.user for c in conversations for m in c.memberships}
    # viewer_id 0: a rendering shared by every member (events), overlaid per member.
    online = presence.visible_online_ids(viewer_id or None, all_users)
    return [_render(c, viewer_id, last_messages.get(c.id), online) for c in conversations]


def to_dict(conversation: Conversation, viewer_id: int) -> dict[str, Any]:
    return to_dicts([conversation], viewer_id)[0]


def to_object(conversation: Conversation, viewer_id: int) -> contract.Conversation:
    return to_objects([conversation], viewer_id)[0]


def render_by_id(viewer: User, ids: list[int]) -> list[dict[str, Any]]:
    """Conversation objects (as dicts) for ``ids`` (ascending id), as ``viewer`` sees them."""
    return [as_dict(c) for c in objects_by_id(viewer, ids)]


def objects_by_id(viewer: User, ids: list[int]) -> list[contract.Conversation]:
    """Conversation objects for ``ids`` (ascending id), as ``viewer`` sees them."""
    if not ids:
        return []
    found = db.session.scalars(select(Conversation).where(Conversation.id.in_(ids)).order_by(Conversation.id))
    return to_objects(list(found), viewer.id)


def _render(
    conversation: Conversation, viewer_id: int, last: Message | None, online: set[int]
) -> contract.Conversation:
    mine = find_membership(conversation, viewer_id)
    members = sorted(conversation.memberships, key=lambda m: m.user_id)
    group = conversation.type == GROUP
    data = contract.Conversation(
        id=conversation.id,
        type=conversation.type,  # type: ignore[arg-type]
        name=conversation.name,
        members=[m.user.to_object(online=m.user_id in online) for m in members],
        last_seq=conversation.last_seq,
        version=conversation.version,
        last_message=last.to_object() if last else None,
        unread_count=mine.unread_count if mine else 0,
        last_read_seq=mine.last_read_seq if mine else 0,
        created_at=iso(conversation.created_at),
        updated_at=iso(conversation.updated_at),
        notifications=mine.notifications if mine else "all",  # type: ignore[arg-type]
        muted_until=iso(mine.muted_until) if mine else None,
        unread_mentions=mine.unread_mentions if mine else 0,
        # Extension: each member's read and delivered positions, for ticks.
        receipts={
            str(m.user_id): contract.Receipt(last_read_seq=m.last_read_seq, delivered_seq=m.delivered_seq)
            for m in members
        },
        is_member=mine is not None,
        visibility=conversation.visibility if group else UNSET,  # type: ignore[arg-type]
        posting=conversation.posting if group else UNSET,  # type: ignore[arg-type]
        roles={str(m.user_id): m.role for m in members} if group else UNSET,  # type: ignore[misc]
    )
    return data


def _viewer_overlay(
    base: contract.Conversation, member: Membership, hidden: dict[int, set[int]] | None = None
) -> contract.Conversation:
    """``base`` (rendered for nobody) as ``member`` sees it; ``hidden`` (blocks.hidden_among
    of the members): whose presence each member must not see."""
    members = base.members
    concealed = hidden.get(member.user_id) if hidden else None
    if concealed and any(u.online and u.id in concealed for u in members):
        members = [msgspec.structs.replace(u, online=False) if u.id in concealed else u for u in members]
    return msgspec.structs.replace(
        base, unread_count=member.unread_count, last_read_seq=member.last_read_seq, is_member=True,
        notifications=member.notifications, muted_until=iso(member.muted_until),
        unread_mentions=member.unread_mentions, members=members,
    )


def publish_to_members(name: str, conversation: Conversation, *, exclude: Iterable[int] = ()) -> None:
    """``conversation:new``/``updated`` for each member, with their own counts."""
    skip = set(exclude)
    base = to_object(conversation, viewer_id=0)
    hidden = blocks.hidden_among(member_ids(conversation))
    kind = contract_events.ConversationNew if name == "conversation:new" else contract_events.ConversationUpdated
    for member in conversation.memberships:
        if member.user_id not in skip:
            events.on_commit(kind(conversation=_viewer_overlay(base, member, hidden)), users=[member.user_id])


# ---------------------------------------------------------------- list


def list_conversations(user: User, limit: object, cursor: object) -> tuple[list[dict[str, Any]], str | None]:
    count = clamp_limit(limit, 50, 100)
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


def _decode_cursor(value: object) -> tuple[datetime, int]:
    if not isinstance(value, str) or len(value) > 200:
        raise field_error("cursor", "malformed")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        stamp, cid = raw.split("|")
        return parse_iso(stamp), entity_id(int(cid), "cursor")
    except (ValueError, binascii.Error, UnicodeDecodeError, ValidationError):
        raise field_error("cursor", "malformed") from None


# ---------------------------------------------------------------- create


def open_direct(user: User, other_id: object) -> tuple[dict[str, Any], bool]:
    """The one direct conversation of a pair; created=False when it existed."""
    oid = entity_id(other_id, "user_id")
    other = db.session.get(User, oid)
    if other is None:
        raise NotFound("no such user")
    low, high = sorted((user.id, oid))
    key = f"{low}:{high}"
    existing = db.session.scalar(select(Conversation).where(Conversation.direct_key == key))
    if existing is not None:
        return to_dict(existing, user.id), False  # still readable when the other closed their account
    if not other.active:
        raise NotFound("no such user")
    # An existing one stays readable; a new one is not created for a blocked pair.
    blocks.check_direct_open(user.id, oid)
    conversation = Conversation(type=DIRECT, direct_key=key, version=1)
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
) -> dict[str, Any]:
    cfg = current_app.config
    title = text(name, "name", max_chars=cfg["MAX_GROUP_NAME_CHARS"])
    ids = id_list(member_ids_value, "member_ids", max_items=cfg["MAX_GROUP_MEMBERS"])
    vis = choice(visibility, "visibility", VISIBILITIES, "private")
    post = choice(posting, "posting", POSTING, "all")
    others = [uid for uid in ids if uid != user.id]
    if len(others) + 1 > cfg["MAX_GROUP_MEMBERS"]:
        # The creator is a member too.
        raise field_error("member_ids", f"a group has at most {cfg['MAX_GROUP_MEMBERS']} members, you included")
    if others:
        found = set(db.session.scalars(select(User.id).where(User.id.in_(others), User.active.is_(True))))
        missing = [uid for uid in others if uid not in found]
        if missing:
            raise NotFound(f"no such user: {missing[0]}")
    conversation = Conversation(type=GROUP, name=title, visibility=vis, posting=post, version=1)
    conversation.memberships = [Membership(user_id=user.id, role="owner")] + [
        Membership(user_id=uid, role="member") for uid in others
    ]
    db.session.add(conversation)
    db.session.flush()
    publish_to_members("conversation:new", conversation)
    data = to_dict(conversation, user.id)
    db.session.commit()
    return data


def get_conversation(user: User, conversation_id: object) -> dict[str, Any]:
    conversation, _ = get_visible(user, conversation_id)
    return to_dict(conversation, user.id)


# ---------------------------------------------------------------- rooms and members


def list_rooms(user: User, query: object) -> list[dict[str, Any]]:
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
        stmt = stmt.where(func.lower(Conversation.name).like(f"%{escape_like(q)}%", escape="\\"))
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


def _require_room(conversation: Conversation) -> None:
    if len(conversation.memberships) >= current_app.config["MAX_GROUP_MEMBERS"]:
        raise ValidationError("the group is full")


def join(user: User, conversation_id: object) -> dict[str, Any]:
    conversation, member = get_visible(user, conversation_id)
    if member is not None:
        return to_dict(conversation, user.id)
    ratelimit.check_membership(user.id)
    # Decide under the conversation's lock: a second device joining at the same
    # moment then finds the membership instead of violating its primary key.
    version = versions.lock(conversation)
    if find_membership(conversation, user.id) is not None:
        db.session.rollback()
        return to_dict(conversation, user.id)
    if not is_public(conversation):
        db.session.rollback()
        raise NotFound("no such conversation")
    _require_room(conversation)
    _add(conversation, user.id)
    return _finish_membership_change(conversation, user.id, version)


def add_member(actor: User, conversation_id: object, user_id: object) -> dict[str, Any]:
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    _require_manager(member)
    uid = entity_id(user_id, "user_id")
    target = db.session.get(User, uid)
    if target is None or not target.active:
        raise NotFound("no such user")
    if find_membership(conversation, uid) is not None:
        return to_dict(conversation, actor.id)
    ratelimit.check_membership(actor.id)
    version = versions.lock(conversation)
    _require_manager(find_membership(conversation, actor.id))
    if find_membership(conversation, uid) is not None:
        db.session.rollback()  # added by someone else meanwhile
        return to_dict(conversation, actor.id)
    _require_room(conversation)
    _add(conversation, uid)
    return _finish_membership_change(conversation, actor.id, version, joined=uid)


def _add(conversation: Conversation, user_id: int) -> None:
    # Old history is not unread for someone who just arrived.
    membership = Membership(user_id=user_id, role="member", last_read_seq=conversation.last_seq, unread_count=0)
    conversation.memberships.append(membership)
    conversation.updated_at = utcnow()
    db.session.execute(
        delete(Departure).where(Departure.conversation_id == conversation.id, Departure.user_id == user_id)
    )
    db.session.flush()


def _finish_membership_change(
    conversation: Conversation, viewer_id: int, version: int, joined: int | None = None
) -> dict[str, Any]:
    newcomer = joined if joined is not None else viewer_id
    new_member = find_membership(conversation, newcomer)
    assert new_member is not None
    newcomer_user = presence.user_object(new_member.user)
    hidden = blocks.hidden_among(member_ids(conversation))
    concealed = hidden.get(newcomer, set())
    joined_event = contract_events.MemberJoined(conversation_id=conversation.id, user=newcomer_user, version=version)
    events.on_commit(joined_event, users=[uid for uid in member_ids(conversation) if uid not in concealed])
    if concealed:
        # A blocked pair see each other offline (services/blocks.py).
        offline = msgspec.structs.replace(newcomer_user, online=False)
        joined_offline = contract_events.MemberJoined(conversation_id=conversation.id, user=offline, version=version)
        events.on_commit(joined_offline, users=[uid for uid in member_ids(conversation) if uid in concealed])
    base = to_object(conversation, viewer_id=0)
    _announce_membership(conversation, base, exclude=[newcomer], hidden=hidden)
    mine = _viewer_overlay(base, new_member, hidden)
    events.on_commit(contract_events.ConversationNew(conversation=mine), users=[newcomer])
    data = as_dict(mine) if viewer_id == newcomer else to_dict(conversation, viewer_id)
    db.session.commit()
    return data


def _announce_membership(
    conversation: Conversation, base: contract.Conversation, *, exclude: Iterable[int] = (),
    hidden: dict[int, set[int]] | None = None,
) -> None:
    """``conversation:updated`` after a membership change, to groups small enough.

    Each of those events carries the whole member list, so sending one to every
    member costs members x members (a join in a 1,000-member group: 1,001
    events, 154 MB of JSON). Above ``MEMBER_LIST_FANOUT_LIMIT`` members the
    ``member:joined``/``member:left`` event (the delta, with the new version)
    is the whole announcement; a client that wants the list fetches it.
    """
    if len(conversation.memberships) > current_app.config["MEMBER_LIST_FANOUT_LIMIT"]:
        return
    skip = set(exclude)
    if hidden is None:
        hidden = blocks.hidden_among(member_ids(conversation))
    for member in conversation.memberships:
        if member.user_id not in skip:
            update = contract_events.ConversationUpdated(conversation=_viewer_overlay(base, member, hidden))
            events.on_commit(update, users=[member.user_id])


def remove_member(actor: User, conversation_id: object, user_id: object, *, rate_limited: bool = True) -> None:
    """Owner/admin removes someone; anyone removes themselves (leave). ``rate_limited=False``:
    closing an account leaves every group at once (services/closing.py)."""
    member: Membership | None
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    uid = entity_id(user_id, "user_id")
    if rate_limited:
        ratelimit.check_membership(actor.id)
    # Roles and membership are read again under the lock: the owner and the
    # only admin leaving at the same moment must still leave exactly one owner.
    version = versions.lock(conversation)
    member = find_membership(conversation, actor.id)
    target = find_membership(conversation, uid)
    if member is None:
        db.session.rollback()
        if uid == actor.id:
            return  # already left (another device of theirs)
        raise Forbidden("join this room first")
    if uid != actor.id:
        _require_manager(member)
        if target is None:
            raise NotFound("not a member")
        if target.role == "owner" or (target.role == "admin" and member.role != "owner"):
            raise Forbidden("admins cannot remove the owner or other admins")
    assert target is not None
    left_user = presence.user_object(target.user)
    everyone = member_ids(conversation)
    if target.role == "owner":
        _hand_over_ownership(conversation, leaving=uid)
    had_unread = target.unread_count > 0
    conversation.memberships.remove(target)
    conversation.updated_at = utcnow()
    db.session.add(Departure(conversation_id=conversation.id, user_id=uid, left_at=utcnow()))
    db.session.flush()
    left = contract_events.MemberLeft(conversation_id=conversation.id, user=left_user, version=version)
    concealed = blocks.hidden_from(uid) & set(everyone) if left_user.online else set()
    events.on_commit(left, users=[u for u in everyone if u not in concealed])
    if concealed:
        # A blocked pair see each other offline (services/blocks.py).
        offline = msgspec.structs.replace(left_user, online=False)
        hidden_left = contract_events.MemberLeft(conversation_id=conversation.id, user=offline, version=version)
        events.on_commit(hidden_left, users=sorted(concealed))
    _announce_membership(conversation, to_object(conversation, viewer_id=0))
    if had_unread:
        # Their badge loses this conversation's unread messages.
        from .receipts import total_unread

        badge = contract_events.Unread(
            conversation_id=conversation.id, unread_count=0, total_unread=total_unread(uid), unread_mentions=0
        )
        events.on_commit(badge, users=[uid])
    db.session.commit()


def _hand_over_ownership(conversation: Conversation, leaving: int) -> None:
    """A group always has an owner while it has members: the longest-serving admin, else member."""
    rest = [m for m in conversation.memberships if m.user_id != leaving]
    if not rest:
        return
    rank = {"admin": 0, "member": 1}
    successor = min(rest, key=lambda m: (rank.get(m.role, 2), m.joined_at, m.user_id))
    successor.role = "owner"


def update_group(
    actor: User, conversation_id: object, name: object, visibility: object, posting: object
) -> dict[str, Any]:
    """Rename, or change visibility/posting: owner and admins."""
    conversation, member = get_member(actor, conversation_id)
    _require_group(conversation)
    _require_manager(member)
    cfg = current_app.config
    new_name = text(name, "name", max_chars=cfg["MAX_GROUP_NAME_CHARS"]) if name is not MISSING else None
    new_visibility = choice(visibility, "visibility", VISIBILITIES, conversation.visibility)
    new_posting = choice(posting, "posting", POSTING, conversation.posting)
    _lock_as_manager(conversation, actor.id)
    if new_name is not None:
        conversation.name = new_name
    conversation.visibility = new_visibility
    conversation.posting = new_posting
    return _commit_group_change(conversation, actor.id)


def _lock_as_manager(conversation: Conversation, actor_id: int, *, owner: bool = False) -> None:
    """Lock the conversation (its next version) and check the actor's role again under the lock.

    Rate-limited: each change sends every member a ``conversation:updated`` with the whole
    member list (in a 1,000-member group about 160 MB of JSON), so a script must not loop it.
    """
    ratelimit.check_group_change(actor_id)
    versions.lock(conversation)
    member = find_membership(conversation, actor_id)
    if owner and (member is None or member.role != "owner"):
        raise Forbidden("only the owner may change roles")
    _require_manager(member)


def set_role(actor: User, conversation_id: object, user_id: object, role: object) -> dict[str, Any]:
    """The owner promotes or demotes; making someone owner hands ownership over."""
    member: Membership | None
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
    _lock_as_manager(conversation, actor.id, owner=True)
    member = find_membership(conversation, actor.id)
    target = find_membership(conversation, uid)
    if member is None or target is None:
        raise NotFound("not a member")
    if new_role == "owner":
        member.role = "admin"
    target.role = new_role
    return _commit_group_change(conversation, actor.id)


def _commit_group_change(conversation: Conversation, viewer_id: int) -> dict[str, Any]:
    """Name, settings or roles changed (the version was allocated by the lock):
    bump activity, tell every member, commit."""
    conversation.updated_at = utcnow()
    db.session.flush()
    publish_to_members("conversation:updated", conversation)
    data = to_dict(conversation, viewer_id)
    db.session.commit()
    return data
