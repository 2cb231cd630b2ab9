"""Blocks between users and reports of messages (PROTOCOL.md v2 "Account and safety")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from ..timeutil import utcnow


class Block(Model):
    """``blocker_id`` blocked ``blocked_id``. The primary key answers "did A block B"
    and the index on ``blocked_id`` answers "who blocked B", so the either-way
    check of a direct send is two index probes."""

    __tablename__ = "blocks"

    blocker_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    blocked_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Model):
    """A user's report of a message, open until an operator resolves it (flask chat reports)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Null while open: the index makes "open reports" cheap however many were resolved.
    resolved_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    resolution: Mapped[str | None] = mapped_column(String(1000), default=None)
