from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import iso, utcnow


class Message(db.Model):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int]
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted: Mapped[bool] = mapped_column(default=False)

    reactions: Mapped[list[Reaction]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Reaction.created_at"
    )

    __table_args__ = (
        # Keyset pagination and sync read by (conversation_id, seq).
        UniqueConstraint("conversation_id", "seq"),
        # Idempotent sends: one message per (conversation, sender, client_id).
        UniqueConstraint("conversation_id", "sender_id", "client_id"),
    )

    def reactions_dict(self) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for reaction in self.reactions:
            grouped.setdefault(reaction.emoji, []).append(reaction.user_id)
        return grouped

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "sender_id": self.sender_id,
            "body": "" if self.deleted else self.body,
            "client_id": self.client_id,
            "created_at": iso(self.created_at),
            "edited_at": iso(self.edited_at),
            "deleted": self.deleted,
            "reactions": {} if self.deleted else self.reactions_dict(),
        }


class Reaction(db.Model):
    __tablename__ = "reactions"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
