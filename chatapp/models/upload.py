"""v2 attachments: one uploaded file, and its bytes when the database holds them.

An upload belongs to its uploader until a message carries it (``message_id``);
from then on whoever can read that message can read it. Its bytes live in the
storage backend named by ``storage`` (chatapp/attachments/storage.py), so
changing ``CHAT_UPLOAD_STORAGE`` leaves older uploads readable where they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ..contract import objects as contract
from ..extensions import Model
from ..timeutil import utcnow

URL_PREFIX = "/api/v1/uploads"

# The part of an upload a chunk belongs to: the served original or its thumbnail.
ORIGINAL = "o"
THUMBNAIL = "t"


class Upload(Model):
    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    # What the file is served as (sniffed from the bytes), its byte size and hash (the ETag).
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(default=None)
    height: Mapped[int | None] = mapped_column(default=None)
    thumbnail_type: Mapped[str | None] = mapped_column(String(32), default=None)
    thumbnail_size: Mapped[int | None] = mapped_column(default=None)
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # The backend holding the bytes ("file" or "database") and their name there.
    storage: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once, by the send that carries it (services/uploads.attach). A message is
    # never removed (deletion keeps the row), except with its whole conversation or
    # sender by an operator: then its uploads go too (their file-backend bytes stay).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), default=None,
                                                   index=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), default=None
    )
    # Its place among the message's attachments (the order the sender gave).
    position: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    # The message was deleted: nobody may read it any more; the purge frees it.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the purge task removes the row and its bytes: 24 h after the upload while
    # no message carries it, null once one does, now once that message is deleted.
    # One indexed column, so each poll of every worker is one range scan.
    purge_after: Mapped[datetime | None] = mapped_column(default=None, index=True)

    # The unsent uploads of one user (the pending quota counts them).
    __table_args__ = (Index("ix_uploads_uploader_message", "uploader_id", "message_id"),)


class UploadChunk(Model):
    """256 KiB of an upload's bytes, for the ``database`` backend: served and ranged
    chunk by chunk, so no worker ever holds a whole file in memory."""

    __tablename__ = "upload_chunks"

    upload_id: Mapped[int] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(String(1), primary_key=True)
    number: Mapped[int] = mapped_column(primary_key=True)  # 0, 1, ... in byte order
    data: Mapped[bytes] = mapped_column(LargeBinary)


def file_url(upload_id: int, name: str) -> str:
    return f"{URL_PREFIX}/{upload_id}/file/{quote(name, safe='')}"


def thumbnail_url(upload_id: int) -> str:
    return f"{URL_PREFIX}/{upload_id}/thumbnail"


def attachment_object(row: Any) -> contract.Attachment:
    """The contract's Attachment from an Upload model or a Core row of its columns."""
    return contract.Attachment(
        id=row.id, name=row.name, content_type=row.content_type, size=row.size, width=row.width,
        height=row.height, url=file_url(row.id, row.name),
        thumbnail_url=thumbnail_url(row.id) if row.thumbnail_type else None,
    )
