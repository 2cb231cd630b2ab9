"""Read and delivered receipts, unread counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Integer, bindparam, func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from ..contract import events as contract
from ..contract import objects as contract_objects
from ..contract.objects import as_dict
from ..extensions import db
from ..models import Conversation, Membership, Message, User
from ..prepared import Prepared
from . import events, mentions, push_outbox, versions
from .conversations import get_member, member_ids
from .validation import integer


def _advance(conversation_id: int, user_id: int, column: InstrumentedAttribute[int], target: int) -> bool:
    """Move a member's position to ``target`` if it is behind; True when it moved.

    A conditional UPDATE rather than writing back a value read earlier: two
    devices of one user reading at once can never move it backwards (the
    second UPDATE waits on the row lock, then finds the condition false).
    """
    stmt = (
        update(Membership)
        .where(Membership.conversation_id == conversation_id, Membership.user_id == user_id, column < target)
        .values({column: target})
        .execution_options(synchronize_session=False)
    )
    result: CursorResult[Any] = db.session.execute(stmt)  # type: ignore[assignment]  # an UPDATE's result is a CursorResult
    return result.rowcount > 0


def mark_read(user: User, conversation_id: object, seq: object) -> dict[str, Any]:
    """Move ``last_read_seq`` forward (never back; clamped to ``last_seq``)."""
    target = integer(seq, "seq", minimum=0)
    assert target is not None
    conversation, member = get_member(user, conversation_id)
    target = min(target, conversation.last_seq)
    # A receipt is a change members see (ticks): it takes the conversation's
    # next version, and the lock before the membership row, in the order every
    # change takes them (services/versions.py). Nothing to move: no lock at all.
    read_before = member.last_read_seq
    version = versions.bump(conversation.id) if read_before < target else None
    if version is not None and _advance(conversation.id, user.id, Membership.last_read_seq, target):
        # Counted after the UPDATE took the row lock, so a send that committed
        # meanwhile is seen (its unread increment and its message agree).
        unread = _count_unread(conversation.id, user.id, target)
        unread_mentions = mentions.count_unread(conversation.id, user.id, target)
        db.session.execute(
            update(Membership)
            .where(Membership.conversation_id == conversation.id, Membership.user_id == user.id)
            .values(unread_count=unread, unread_mentions=unread_mentions)
            .execution_options(synchronize_session=False)
        )
        # Read implies delivered.
        _advance(conversation.id, user.id, Membership.delivered_seq, target)
        receipt = contract.Read(conversation_id=conversation.id, user_id=user.id, seq=target, version=version)
        events.on_commit(receipt, users=member_ids(conversation))
        total = total_unread(user.id)
        badge = contract.Unread(
            conversation_id=conversation.id, unread_count=unread, total_unread=total, unread_mentions=unread_mentions
        )
        events.on_commit(badge, users=[user.id])
        # Dismiss the notification a push put on their devices (if one did).
        push_outbox.enqueue_read(user.id, conversation.id, target, read_before)
    elif version is not None:
        db.session.rollback()  # another device moved it first
    db.session.refresh(member)
    result = {
        "conversation_id": conversation.id, "last_read_seq": member.last_read_seq, "unread_count": member.unread_count,
    }
    db.session.commit()
    return result


def mark_delivered(user: User, conversation_id: object, seq: object) -> dict[str, Any]:
    """Contract extension: a device acknowledges receipt up to ``seq``."""
    target = integer(seq, "seq", minimum=0)
    assert target is not None
    conversation, member = get_member(user, conversation_id)
    target = min(target, conversation.last_seq)
    version = versions.bump(conversation.id) if member.delivered_seq < target else None
    if version is not None and _advance(conversation.id, user.id, Membership.delivered_seq, target):
        delivered = contract.Delivered(conversation_id=conversation.id, user_id=user.id, seq=target, version=version)
        events.on_commit(delivered, users=member_ids(conversation))
    elif version is not None:
        db.session.rollback()
    db.session.refresh(member)
    result = {"conversation_id": conversation.id, "delivered_seq": member.delivered_seq}
    db.session.commit()
    return result


def _count_unread(conversation_id: int, user_id: int, after_seq: int) -> int:
    return db.session.scalar(
        select(func.count(Message.id)).where(
            Message.conversation_id == conversation_id,
            Message.seq > after_seq,
            Message.sender_id != user_id,
            Message.deleted.is_(False),
        )
    ) or 0


def total_unread(user_id: int) -> int:
    total = select(func.coalesce(func.sum(Membership.unread_count), 0)).where(Membership.user_id == user_id)
    return db.session.scalar(total) or 0


def ready_state(user: User) -> tuple[list[dict[str, Any]], int]:
    """The ``ready`` event's conversation cursors (as dicts) and total."""
    positions, total = ready_positions(user)
    return [as_dict(position) for position in positions], total


# Every socket connect runs it: prepared (integers only), below SQLAlchemy's execute.
_READY_POSITIONS = Prepared(
    select(
        Conversation.id, Conversation.last_seq, Conversation.version, Membership.last_read_seq,
        Membership.unread_count, Membership.unread_mentions,
    )
    .join(Membership, Membership.conversation_id == Conversation.id)
    .where(Membership.user_id == bindparam("p_uid", type_=Integer))
    .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
)


def ready_positions(user: User) -> tuple[list[contract_objects.ReadyConversation], int]:
    """The ``ready`` event's conversation cursors and total."""
    rows = _READY_POSITIONS.all(db.session.connection(), {"p_uid": user.id})
    conversations = [
        contract_objects.ReadyConversation(
            id=cid, last_seq=last_seq, version=version, last_read_seq=read, unread_count=unread,
            unread_mentions=mentioned,
        )
        for cid, last_seq, version, read, unread, mentioned in rows
    ]
    return conversations, sum(c.unread_count for c in conversations)
