"""Where an upload's bytes live: a folder, or chunks in the SQL database.

``file`` (the embedded default) keeps them under the instance folder
(``CHAT_UPLOAD_DIR``): one machine, or several whose workers mount one folder.
``database`` keeps them in ``upload_chunks``, 256 KiB a row: every worker of a
cluster reaches the database already, so every worker serves every upload with
nothing more to run or mount (``make cluster`` uses it). PostgreSQL stores a
large ``bytea`` out of line (TOAST), so the rows stay small to scan.

Both stream: a save copies from a spool file chunk by chunk, a read yields the
requested range chunk by chunk, and no call holds a whole file in memory. Each
row names its backend (``Upload.storage``), so changing the setting keeps
older uploads readable where they are.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from config import ConfigError

from ..extensions import db, socketio
from ..models.upload import ORIGINAL, THUMBNAIL, UploadChunk

CHUNK_BYTES = 256 * 1024
# A read fetches this many chunks per query (1 MiB in flight): few round trips,
# and the connection goes back to the pool between them, so a slow download
# never holds one.
CHUNKS_PER_QUERY = 4
FILE_BLOCK_BYTES = 64 * 1024
SPOOL_PREFIX = "chat-upload-"
# A spool file this old belongs to no request (its worker died mid-upload).
STALE_SPOOL_SECONDS = 3600.0
BACKENDS = ("file", "database")


class Storage(Protocol):
    name: str

    def save(self, upload_id: int, key: str, part: str, source: Path) -> None:
        """Store ``source`` as ``part`` of the upload, inside the caller's transaction."""

    def undo(self, key: str, parts: Iterable[str]) -> None:
        """The transaction of ``save`` rolled back: forget what it wrote outside it."""

    def read(self, upload_id: int, key: str, part: str, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``[start, stop)`` of a part, a chunk at a time (it may end short
        when the upload is purged meanwhile)."""

    def delete(self, uploads: list[tuple[int, str]]) -> None:
        """Free the bytes of (upload id, key) pairs, inside the purge's transaction."""


class FileStorage:
    """One file per part: ``<dir>/<key[:2]>/<key>`` and ``<key>.t`` for the thumbnail."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: str, part: str) -> Path:
        suffix = ".t" if part == THUMBNAIL else ""
        return self.directory / key[:2] / f"{key}{suffix}"

    def save(self, upload_id: int, key: str, part: str, source: Path) -> None:
        target = self.path(key, part)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # the spool is in this folder's tmp/: a rename, no copy

    def undo(self, key: str, parts: Iterable[str]) -> None:
        for part in parts:
            self.path(key, part).unlink(missing_ok=True)

    def read(self, upload_id: int, key: str, part: str, start: int, stop: int) -> Iterator[bytes]:
        handle = open(self.path(key, part), "rb")  # opened now: a missing file fails before any header is sent
        return _file_range(handle, start, stop)

    def delete(self, uploads: list[tuple[int, str]]) -> None:
        # Unlinked before the purge commits: a failed commit leaves rows whose
        # bytes are gone, which the next purge deletes again (missing_ok).
        for _upload_id, key in uploads:
            self.undo(key, (ORIGINAL, THUMBNAIL))


def _file_range(handle: BinaryIO, start: int, stop: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        remaining = stop - start
        while remaining > 0:
            block = handle.read(min(FILE_BLOCK_BYTES, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block
            socketio.sleep(0)  # a fast reader never makes the write wait: let others run


class DatabaseStorage:
    """Chunks in ``upload_chunks`` (the upload row's transaction writes them)."""

    name = "database"

    def save(self, upload_id: int, key: str, part: str, source: Path) -> None:
        statement = insert(UploadChunk)
        with open(source, "rb") as handle:
            index = 0
            while block := handle.read(CHUNK_BYTES):
                db.session.execute(statement, {"upload_id": upload_id, "part": part, "number": index, "data": block})
                index += 1
                # SQLite's driver is not green: let the loop serve others between chunks.
                socketio.sleep(0)

    def undo(self, key: str, parts: Iterable[str]) -> None:
        """Nothing: the chunks rolled back with the row."""

    def read(self, upload_id: int, key: str, part: str, start: int, stop: int) -> Iterator[bytes]:
        # The engine now, in the request: the body is sent after the app context ends.
        return _chunk_range(db.engine, upload_id, part, start, stop)

    def delete(self, uploads: list[tuple[int, str]]) -> None:
        # The foreign key cascades too; explicit, so the backend does not depend on it.
        ids = [upload_id for upload_id, _key in uploads]
        db.session.execute(delete(UploadChunk).where(UploadChunk.upload_id.in_(ids)))


def _chunk_range(engine: Engine, upload_id: int, part: str, start: int, stop: int) -> Iterator[bytes]:
    if stop <= start:
        return
    first, last = start // CHUNK_BYTES, (stop - 1) // CHUNK_BYTES
    for batch in range(first, last + 1, CHUNKS_PER_QUERY):
        with engine.connect() as connection:
            rows = connection.execute(
                select(UploadChunk.number, UploadChunk.data)
                .where(UploadChunk.upload_id == upload_id, UploadChunk.part == part,
                       UploadChunk.number.between(batch, min(batch + CHUNKS_PER_QUERY - 1, last)))
                .order_by(UploadChunk.number)
            ).all()
        expected = batch
        for index, data in rows:
            if index != expected:
                return  # purged meanwhile: end short rather than send a hole
            expected += 1
            socketio.sleep(0)  # SQLite's reads are not green: let others run between chunks
            low = start - index * CHUNK_BYTES if index == first else 0
            high = stop - index * CHUNK_BYTES if index == last else len(data)
            yield bytes(data[low:high])
        if expected != min(batch + CHUNKS_PER_QUERY, last + 1):
            return


# ---------------------------------------------------------------- configuration


def configure(app: Flask) -> None:
    """Check the setting and create this app's backends (at blueprint registration)."""
    chosen = app.config["UPLOAD_STORAGE"]
    if chosen not in BACKENDS:
        raise ConfigError(f"CHAT_UPLOAD_STORAGE={chosen!r} must be one of {', '.join(BACKENDS)}")
    directory = Path(app.config["UPLOAD_DIR"] or Path(app.instance_path) / "uploads")
    app.extensions["chat.upload_backends"] = {"file": FileStorage(directory), "database": DatabaseStorage()}
    # Spool beside the files (a rename into place), or in the system's temporary
    # folder when the database keeps the bytes and no folder was chosen.
    uses_folder = chosen == "file" or app.config["UPLOAD_DIR"]
    app.extensions["chat.upload_spool"] = directory / "tmp" if uses_folder else Path(tempfile.gettempdir())


def backend(name: str | None = None) -> Storage:
    """The backend called ``name`` (a row's ``storage``), or the configured one."""
    backends: dict[str, Storage] = current_app.extensions["chat.upload_backends"]
    return backends[name or current_app.config["UPLOAD_STORAGE"]]


def spool_directory() -> Path:
    directory: Path = current_app.extensions["chat.upload_spool"]
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def sweep_spool(now: float | None = None) -> int:
    """Remove spool files older than ``STALE_SPOOL_SECONDS`` (a worker died mid-upload)."""
    cutoff = (now or time.time()) - STALE_SPOOL_SECONDS
    removed = 0
    directory: Path = current_app.extensions["chat.upload_spool"]
    if not directory.is_dir():
        return 0
    for entry in directory.glob(f"{SPOOL_PREFIX}*"):
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # another worker swept it
    return removed
