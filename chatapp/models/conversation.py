from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..contract import limits
from ..extensions import Model
from ..timeutil import utcnow

DIRECT = "direct"
GROUP = "group"
ROLES = limits.ROLES


class Conversation(Model):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(10))
    name: Mapped[str | None] = mapped_column(String(100))
    visibility: Mapped[str] = mapped_column(String(10), default="private")
    posting: Mapped[str] = mapped_column(String(10), default="all")
    # "<low user id>:<high user id>" for direct conversations; the unique index
    # makes creating the one conversation of a pair race-free.
    direct_key: Mapped[str | None] = mapped_column(String(41), unique=True)
    # The last allocated seq: incremented in the same transaction as the insert,
    # so a rolled back send leaves no gap.
    last_seq: Mapped[int] = mapped_column(default=0)
    # Increases by one with every change a member can see (a message sent,
    # edited, deleted or reacted to, a receipt, a rename, members, roles):
    # allocated by the UPDATE that locks this row, in the change's own
    # transaction, so versions commit in order and a rollback leaves no gap.
    # ``sync`` with ``versions`` answers what changed since (services/sync.py).
    version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Last activity (a message, or a change): the conversation list's order.
    # Deliberately not indexed: every send updates it, and an indexed column
    # keeps PostgreSQL from making that UPDATE heap-only (HOT). The list reads
    # the user's memberships and sorts their conversations instead.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_group(self) -> bool:
        return self.type == GROUP


class Membership(Model):
    __tablename__ = "memberships"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(10), default="member")
    last_read_seq: Mapped[int] = mapped_column(default=0)
    # Highest seq a device of this member acknowledged receiving (contract extension).
    delivered_seq: Mapped[int] = mapped_column(default=0)
    # Denormalised count of unread messages from others (kept in the send, read
    # and delete transactions) so badges cost one row read, not a COUNT.
    unread_count: Mapped[int] = mapped_column(default=0)
    # v2: unread messages from others that mention this member (kept with unread_count).
    unread_mentions: Mapped[int] = mapped_column(default=0)
    # v2 notification settings, this member's own: all | mentions | none, and a mute.
    notifications: Mapped[str] = mapped_column(String(10), default="all")
    muted_until: Mapped[datetime | None] = mapped_column(default=None)
    # The highest seq a push told this member's devices about: reading past it
    # sends the "read" push that dismisses the notification (services/push_outbox.py).
    pushed_seq: Mapped[int] = mapped_column(default=0)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="memberships")
    user = relationship("User", lazy="joined")


class Departure(Model):
    """A member who left or was removed: ``sync`` lists the conversation in
    ``removed`` for them even when it is a public room they could still read
    as a visitor (a visitor who never joined is not "removed")."""

    __tablename__ = "departures"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    left_at: Mapped[datetime] = mapped_column(default=utcnow)
