from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..contract import objects as contract
from ..contract.limits import REPLY_PREVIEW_CHARS
from ..contract.objects import as_dict
from ..extensions import Model
from ..timeutil import iso, utcnow
from .upload import Upload, attachment_object


class Message(Model):
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
    # The conversation's version at this message's latest change (send, edit,
    # delete, reaction): ``sync`` finds changes by (conversation_id, version).
    version: Mapped[int] = mapped_column(default=0)
    # v2: the user ids named as @username in the body, "3,17" (None: nobody), for
    # rendering without a join; message_mentions holds the same for counting.
    mentions: Mapped[str | None] = mapped_column(String(400), default=None)
    # v2 replies: the quoted message (same conversation). Indexed: an edit or delete
    # of the original raises the version of every reply that quotes it.
    reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None, index=True
    )

    # One level, loaded with the message (selectin: one query for a whole page).
    reply_to: Mapped[Message | None] = relationship(remote_side=[id], lazy="selectin")
    # v2 attachments, in the sender's order (a deleted message's are gone).
    uploads: Mapped[list[Upload]] = relationship(
        primaryjoin="and_(Upload.message_id == Message.id, Upload.deleted_at.is_(None))",
        order_by="Upload.position", lazy="selectin", viewonly=True,
    )

    reactions: Mapped[list[Reaction]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Reaction.created_at"
    )

    __table_args__ = (
        # Keyset pagination and sync read by (conversation_id, seq).
        UniqueConstraint("conversation_id", "seq"),
        # Idempotent sends: one message per (conversation, sender, client_id).
        UniqueConstraint("conversation_id", "sender_id", "client_id"),
        # Catch-up of changes reads a range of versions in one conversation.
        Index("ix_messages_conversation_version", "conversation_id", "version"),
    )

    def reactions_dict(self) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for reaction in self.reactions:
            grouped.setdefault(reaction.emoji, []).append(reaction.user_id)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return as_dict(self.to_object())

    def to_object(self) -> contract.Message:
        return message_object(
            self, self.reactions_dict(), reply_preview(self.reply_to), [attachment_object(u) for u in self.uploads]
        )


def reply_preview(original: Any) -> contract.ReplyPreview | None:
    """The quote of ``original`` (a model or a Core row) as it is now."""
    if original is None:
        return None
    deleted = original.deleted
    return contract.ReplyPreview(
        id=original.id, seq=original.seq, sender_id=original.sender_id,
        body="" if deleted else original.body[:REPLY_PREVIEW_CHARS], deleted=deleted,
    )


def message_object(
    row: Any, reactions: dict[str, list[int]], reply: contract.ReplyPreview | None = None,
    attachments: list[contract.Attachment] | None = None,
) -> contract.Message:
    """The contract's Message object (chatapp/contract/objects.py) from a model or a
    Core row (attribute access): the one place a row becomes a Message."""
    deleted = row.deleted
    return contract.Message(
        id=row.id,
        conversation_id=row.conversation_id,
        seq=row.seq,
        sender_id=row.sender_id,
        body="" if deleted else row.body,
        client_id=row.client_id,
        created_at=iso(row.created_at),
        edited_at=iso(row.edited_at),
        deleted=deleted,
        reactions={} if deleted else reactions,
        version=row.version,
        mentions=[] if deleted else parse_mentions(row.mentions),
        reply_to=None if deleted else reply,
        attachments=[] if deleted or attachments is None else attachments,
    )


def parse_mentions(stored: str | None) -> list[int]:
    return [int(part) for part in stored.split(",")] if stored else []


def store_mentions(user_ids: list[int]) -> str | None:
    return ",".join(map(str, user_ids)) if user_ids else None


class MessageMention(Model):
    """One member named in one message: ``unread_mentions`` is a count over these
    (by conversation, user and seq), recounted on read like ``unread_count``.
    Rows go with the message's deletion or an edit that drops the name."""

    __tablename__ = "message_mentions"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)


class Reaction(Model):
    __tablename__ = "reactions"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    emoji: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
