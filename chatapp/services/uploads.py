"""v2 attachments, the domain: uploading, who may read an upload, attaching it to a
message, and the purge of what nobody may read any more.

An upload is its uploader's alone until a send attaches it (``attach``, in the
send's transaction); from then on whoever can read that message can read it
(a member, or anyone for a public room), and nobody once the message is
deleted. Any other caller gets ``not_found``, as for a conversation they
cannot see: existence does not leak. Uploads never attached are purged after
``CHAT_UPLOAD_UNATTACHED_TTL_SECONDS`` (24 h), deleted messages' uploads soon
after the delete, by every worker's purge loop (realtime/tasks.py); the claim
is a ``DELETE ... RETURNING`` over rows taken ``FOR UPDATE SKIP LOCKED``, so
each row is purged by one worker.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, cast

from flask import current_app
from prometheus_client import Counter
from sqlalchemy import Integer, bindparam, case, delete, func, or_, select, update

from ..attachments import images, storage
from ..attachments.receive import FIELD, MULTIPART_OVERHEAD_BYTES, Received
from ..attachments.serving import Served
from ..attachments.sniff import OCTET_STREAM, Kind, sniff
from ..contract import limits
from ..contract import objects as contract
from ..extensions import db
from ..models import Message, Upload, User
from ..models.upload import ORIGINAL, THUMBNAIL, attachment_object
from ..prepared import Prepared
from ..timeutil import utcnow
from .blocking import run_blocking
from .conversations import readable_id
from .errors import NotFound, PayloadTooLarge, RateLimited, ValidationError, field_error
from .state import SharedState
from .validation import id_list

log = logging.getLogger(__name__)

# PROTOCOL.md v2: a message carries at most 10 attachments.
MAX_ATTACHMENTS = limits.MAX_ATTACHMENTS  # at most this many uploads on one message
MIB = 1024 * 1024
# Rows one purge statement claims; a full batch makes the loop go again at once.
PURGE_BATCH = 100

UPLOADS = Counter("chat_uploads_total", "Uploads stored by this worker", ["category"])
PURGED = Counter("chat_uploads_purged_total", "Uploads (and their bytes) purged by this worker")

# Receives the request's file into a spool folder, at most so many bytes (api/uploads.py).
Receive = Callable[[Path, int], Received]


# ---------------------------------------------------------------- uploading


def upload(user: User, declared_bytes: int | None, receive: Receive) -> contract.Attachment:
    """Admit, receive, type, process and store one upload; its Attachment object.

    Limits come before a byte is read: a declared length over the limit (413),
    the user's upload rate (count, and bytes by the declared length) and the
    quota of uploads not sent yet. A chunked
    body has no declared length: its bytes are counted once received."""
    cfg = current_app.config
    if declared_bytes is not None and declared_bytes > cfg["MAX_UPLOAD_BYTES"] + MULTIPART_OVERHEAD_BYTES:
        raise PayloadTooLarge(f"the file is larger than {cfg['MAX_UPLOAD_BYTES']} bytes")  # costs no tokens
    _take_upload_tokens(user.id, declared_bytes)
    _check_pending_quota(user.id)
    received = receive(storage.spool_directory(), cfg["MAX_UPLOAD_BYTES"])
    outputs: list[Path] = [received.spool.path]
    try:
        if declared_bytes is None:
            _take_mib_tokens(user.id, received.spool.size)
        kind = sniff(received.spool.head)
        row = _new_row(user.id, received, kind)
        if kind.image_format is not None:
            processed = _process_image(received, kind.image_format)
            outputs += [processed.original.path, processed.thumbnail.path]
            row.content_type, row.size, row.sha256 = (processed.original.content_type, processed.original.size,
                                                      processed.original.sha256)
            row.width, row.height = processed.width, processed.height
            row.thumbnail_type, row.thumbnail_size, row.thumbnail_sha256 = (
                processed.thumbnail.content_type, processed.thumbnail.size, processed.thumbnail.sha256
            )
            parts = {ORIGINAL: processed.original.path, THUMBNAIL: processed.thumbnail.path}
        else:
            parts = {ORIGINAL: received.spool.path}
        attachment = _store(row, parts)
        UPLOADS.labels(kind.category).inc()
        return attachment
    finally:
        for path in outputs:
            path.unlink(missing_ok=True)  # moved into place already, or not kept


def _new_row(user_id: int, received: Received, kind: Kind) -> Upload:
    now = utcnow()
    return Upload(
        uploader_id=user_id, name=received.name,
        content_type=kind.content_type if kind.inline else OCTET_STREAM,
        size=received.spool.size, sha256=received.spool.sha256, storage=current_app.config["UPLOAD_STORAGE"],
        key=secrets.token_hex(16), created_at=now,
        purge_after=now + timedelta(seconds=current_app.config["UPLOAD_UNATTACHED_TTL_SECONDS"]),
    )  # fmt: skip


def _process_image(received: Received, image_format: str) -> images.Processed:
    """Decoding and encoding in a thread beside the event loop: a 12 MP photo
    costs a few hundred milliseconds of CPU that no other socket waits for."""
    try:
        return run_blocking(images.process, received.spool.path, image_format, storage.spool_directory(),
                            current_app.config["UPLOAD_MAX_IMAGE_PIXELS"])
    except images.ImageRefused as refused:
        raise field_error(FIELD, str(refused)) from None


def _store(row: Upload, parts: dict[str, Path]) -> contract.Attachment:
    """The row and its bytes together: the database backend writes the chunks in
    the row's transaction; the file backend moves the files into place before the
    commit and removes them again if the commit fails."""
    backend = storage.backend(row.storage)
    saved: list[str] = []
    try:
        db.session.add(row)
        db.session.flush()  # the id the chunks refer to
        for part, path in parts.items():
            backend.save(row.id, row.key, part, path)
            saved.append(part)
        attachment = attachment_object(row)  # before the commit expires the row
        db.session.commit()
    except BaseException:
        db.session.rollback()
        backend.undo(row.key, saved)
        raise
    return attachment


def _state() -> SharedState:
    return cast(SharedState, current_app.extensions["chat.state"])


def _take_upload_tokens(user_id: int, declared_bytes: int | None) -> None:
    cfg = current_app.config
    wait = _state().take_token(f"upload:{user_id}", cfg["RATE_UPLOAD_BURST"], cfg["RATE_UPLOAD_PER_SECOND"])
    if wait > 0:
        raise RateLimited("too many uploads, slow down", retry_after=wait)
    if declared_bytes is not None:
        _take_mib_tokens(user_id, declared_bytes)


def _take_mib_tokens(user_id: int, size: int) -> None:
    """One token per MiB started (the shared state's buckets take one token a call)."""
    cfg = current_app.config
    needed = max(1, math.ceil(size / MIB))
    for taken in range(needed):
        wait = _state().take_token(f"upload-mib:{user_id}", cfg["RATE_UPLOAD_MIB_BURST"],
                                   cfg["RATE_UPLOAD_MIB_PER_SECOND"])
        if wait > 0:
            left = needed - taken - 1
            raise RateLimited("too many bytes uploaded, slow down",
                              retry_after=wait + left / cfg["RATE_UPLOAD_MIB_PER_SECOND"])


def _check_pending_quota(user_id: int) -> None:
    pending, oldest = db.session.execute(
        select(func.count(), func.min(Upload.purge_after))
        .where(Upload.uploader_id == user_id, Upload.message_id.is_(None), Upload.deleted_at.is_(None))
    ).one()
    if pending >= current_app.config["UPLOAD_PENDING_MAX"]:
        wait = (oldest - utcnow()).total_seconds() if oldest is not None else 60.0
        raise RateLimited("too many uploads not sent in a message yet: send them, or wait until they expire",
                          retry_after=max(1.0, wait))


# ---------------------------------------------------------------- reading


def readable(user: User, upload_id: int) -> Upload:
    """The upload, when ``user`` uploaded it or can read a message that carries it;
    ``not_found`` otherwise, and for everyone once that message is deleted."""
    found = db.session.execute(
        select(Upload, Message.deleted).outerjoin(Message, Message.id == Upload.message_id)
        .where(Upload.id == upload_id)
    ).first()
    if found is None:
        raise NotFound("no such upload")
    row, message_deleted = found
    # The message's own flag too: gone the moment the delete commits, whoever deleted it.
    if row.deleted_at is not None or message_deleted:
        raise NotFound("no such upload")
    if row.uploader_id != user.id:
        if row.conversation_id is None:
            raise NotFound("no such upload")
        readable_id(user, row.conversation_id)  # not_found when the caller cannot read that conversation
    upload_row: Upload = row
    return upload_row


def served(user: User, upload_id: int, *, thumbnail: bool) -> Served:
    """What ``GET .../file/<name>`` or ``GET .../thumbnail`` serves, for ``user``."""
    row = readable(user, upload_id)
    backend = storage.backend(row.storage)
    upload_key = row.key
    if thumbnail:
        if row.thumbnail_type is None or row.thumbnail_size is None or row.thumbnail_sha256 is None:
            raise NotFound("this upload has no thumbnail")
        stem = row.name.rsplit(".", 1)[0] if "." in row.name else row.name
        extension = "webp" if row.thumbnail_type == "image/webp" else "jpg"
        return Served(row.thumbnail_size, row.thumbnail_sha256, row.thumbnail_type, f"{stem}-thumbnail.{extension}",
                      True, lambda start, stop: backend.read(upload_id, upload_key, THUMBNAIL, start, stop))
    return Served(row.size, row.sha256, row.content_type, row.name, row.content_type != OCTET_STREAM,
                  lambda start, stop: backend.read(upload_id, upload_key, ORIGINAL, start, stop))


# ---------------------------------------------------------------- messages


def attach(sender_id: int, conversation_id: int, message_id: int, upload_ids: Any) -> list[contract.Attachment]:
    """Attach the sender's uploads to a new message, in the send's transaction; their
    Attachment objects in the order given.

    Each must be the sender's own, not deleted, attached to no other message (the
    same message again is fine: a retried send), and named once; at most
    MAX_ATTACHMENTS. Two sends racing for one upload: the conditional UPDATE lets
    one win (PostgreSQL re-checks ``message_id IS NULL`` after the winner commits;
    SQLite has one writer), the other gets validation_error and rolls back."""
    if isinstance(upload_ids, list) and len(upload_ids) > MAX_ATTACHMENTS:
        raise field_error("attachments", f"at most {MAX_ATTACHMENTS} attachments")
    ids = id_list(upload_ids, "attachments", max_items=MAX_ATTACHMENTS)
    if len(ids) != len(upload_ids or []):
        raise field_error("attachments", "each upload once")
    if not ids:
        return []
    rows = {row.id: row for row in db.session.execute(select(*_COLUMNS).where(Upload.id.in_(ids)))}
    for upload_id in ids:
        row = rows.get(upload_id)
        if row is None or row.uploader_id != sender_id or row.deleted_at is not None:
            raise field_error("attachments", f"no such upload: {upload_id}")
        if row.message_id not in (None, message_id):
            raise field_error("attachments", f"upload {upload_id} is attached to another message")
    claimed = db.session.execute(
        update(Upload)
        .where(Upload.id.in_(ids), Upload.uploader_id == sender_id, Upload.deleted_at.is_(None),
               or_(Upload.message_id.is_(None), Upload.message_id == message_id))
        .values(message_id=message_id, conversation_id=conversation_id, purge_after=None,
                position=case({upload_id: place for place, upload_id in enumerate(ids)}, value=Upload.id))
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != len(ids):  # type: ignore[attr-defined]  # a CursorResult
        raise ValidationError("attachments: another message took one of these uploads",
                              fields={"attachments": "an upload is attached to another message"})
    return [attachment_object(rows[upload_id]) for upload_id in ids]


_COLUMNS = (Upload.id, Upload.uploader_id, Upload.message_id, Upload.deleted_at, Upload.name, Upload.content_type,
            Upload.size, Upload.width, Upload.height, Upload.thumbnail_type)
_UPLOADS = cast(Any, Upload.__table__).c
# Built once, run as Core on the session's connection: every history page and
# sync batch asks, and building the select per call (one coerced literal per
# id) then running it through the ORM was ~20% of a history request.
# What attachment_object reads, and the message each belongs to (one list for both lookups).
_ATTACHMENT_COLUMNS = (_UPLOADS.id, _UPLOADS.message_id, _UPLOADS.name, _UPLOADS.content_type, _UPLOADS.size,
                       _UPLOADS.width, _UPLOADS.height, _UPLOADS.thumbnail_type)
_ATTACHMENTS_OF = (
    select(*_ATTACHMENT_COLUMNS)
    .where(_UPLOADS.message_id.in_(bindparam("p_ids", expanding=True)), _UPLOADS.deleted_at.is_(None))
    .order_by(_UPLOADS.message_id, _UPLOADS.position)
)


def attachments_of(message_ids: Iterable[int]) -> dict[int, list[contract.Attachment]]:
    """Every message's attachments, in the sender's order, in one query (history,
    sync); a message without any maps to []. A deleted message's are gone."""
    found: dict[int, list[contract.Attachment]] = {message_id: [] for message_id in message_ids}
    if not found:
        return found
    rows = db.session.connection().execute(_ATTACHMENTS_OF, {"p_ids": list(found)})
    for row in rows:
        found[row.message_id].append(attachment_object(row))
    return found


_MESSAGES = cast(Any, Message.__table__).c
_IN_SPAN = Prepared(
    select(*_ATTACHMENT_COLUMNS)
    .join_from(Upload.__table__, Message.__table__, _MESSAGES.id == _UPLOADS.message_id)
    .where(_MESSAGES.conversation_id == bindparam("p_cid", type_=Integer),
           _MESSAGES.seq.between(bindparam("p_low", type_=Integer), bindparam("p_high", type_=Integer)),
           _UPLOADS.deleted_at.is_(None))
    .order_by(_UPLOADS.message_id, _UPLOADS.position)
)


class _SpanRow(NamedTuple):
    id: int
    message_id: int
    name: str
    content_type: str
    size: int
    width: int | None
    height: int | None
    thumbnail_type: str | None


def attachments_in_span(conversation_id: int, low_seq: int, high_seq: int) -> dict[int, list[contract.Attachment]]:
    """As ``attachments_of``, for every message of a conversation from ``low_seq``
    to ``high_seq`` (a history page): a prepared statement without a list
    parameter. A message without any is absent."""
    found: dict[int, list[contract.Attachment]] = {}
    rows = _IN_SPAN.all(db.session.connection(), {"p_cid": conversation_id, "p_low": low_seq, "p_high": high_seq})
    for row in map(_SpanRow._make, rows):
        found.setdefault(row.message_id, []).append(attachment_object(row))
    return found


def detach_deleted(message_id: int, now: datetime | None = None) -> None:
    """In the delete's transaction: the message's uploads become not_found for
    everyone at once, and due for the purge, which frees their bytes."""
    moment = now or utcnow()
    db.session.execute(
        update(Upload).where(Upload.message_id == message_id, Upload.deleted_at.is_(None))
        .values(deleted_at=moment, purge_after=moment).execution_options(synchronize_session=False)
    )


def preview_kind(attachments: list[contract.Attachment]) -> str | None:
    """What a push says of a message's attachments when it has no text: "Photo",
    "3 photos", "Video", "Audio", "File", "2 files", or "3 attachments" for a mix."""
    if not attachments:
        return None
    kinds = {_preview_noun(a.content_type) for a in attachments}
    noun = kinds.pop() if len(kinds) == 1 else "attachment"
    if len(attachments) == 1:
        return noun.capitalize()
    return f"{len(attachments)} {noun}s"


def _preview_noun(content_type: str) -> str:
    if content_type.startswith("image/"):
        return "photo"
    if content_type.startswith("video/"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio file"
    return "file"


# ---------------------------------------------------------------- purge


def purge(batch: int = PURGE_BATCH, now: datetime | None = None) -> int:
    """Remove up to ``batch`` due uploads (unattached past their time, or of deleted
    messages) with their bytes; returns how many. Safe in every worker at once:
    the DELETE claims rows no other transaction holds (SKIP LOCKED; SQLite's one
    writer serialises instead), and only the rows it deleted are freed."""
    moment = now or utcnow()
    due = (
        select(Upload.id).where(Upload.purge_after <= moment).order_by(Upload.purge_after).limit(batch)
        .with_for_update(skip_locked=True)
    )
    # A read first: an idle loop must not take SQLite's write lock every poll.
    if db.session.execute(select(Upload.id).where(Upload.purge_after <= moment).limit(1)).first() is None:
        db.session.rollback()
        return 0
    claimed = db.session.execute(
        delete(Upload).where(Upload.id.in_(due.scalar_subquery()))
        .returning(Upload.id, Upload.storage, Upload.key).execution_options(synchronize_session=False)
    ).all()
    by_backend: dict[str, list[tuple[int, str]]] = {}
    for upload_id, backend_name, upload_key in claimed:
        by_backend.setdefault(backend_name, []).append((upload_id, upload_key))
    for backend_name, uploads in by_backend.items():
        storage.backend(backend_name).delete(uploads)
    db.session.commit()
    if claimed:
        PURGED.inc(len(claimed))
        log.info("purged %d uploads", len(claimed))
    return len(claimed)
