"""The upload's body, streamed from the socket into a spool file.

Werkzeug's multipart parser reads the request 64 KiB at a time and hands each
file part to a stream factory; ours writes it to a spool file as it comes,
counting and hashing on the way, so a 25 MiB upload costs a worker a few
buffers, not 25 MiB (tests/e2e/test_uploads_e2e.py measures it). Past the
limit the write raises ``PayloadTooLarge`` at once and every spool file of the
request is removed: nothing is kept.

Why a spool file and not straight into the backend: the type and the image
work need the whole file first, and a slow phone's 25 MiB upload would
otherwise hold a database transaction (and a pooled connection) for minutes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from werkzeug.formparser import FormDataParser
from werkzeug.wrappers import Request

from ..extensions import socketio
from ..services.errors import PayloadTooLarge, ValidationError, field_error
from .sniff import HEAD_BYTES
from .storage import SPOOL_PREFIX

FIELD = "file"
# Room for the multipart framing (boundaries, part headers, a few small fields)
# on top of the file itself: the request limit is CHAT_MAX_UPLOAD_BYTES plus this.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Parts other than the file are small text fields (ignored); a client has no
# reason to send more than a handful.
MAX_PARTS = 8
# Werkzeug's decoder refuses (413) when its buffer would pass this: the buffer
# holds one 64 KiB read plus what is left of the last, and the small fields.
MAX_BUFFER_BYTES = 512 * 1024
# A fast client's body is always ready to read, so eventlet's reads never wait and
# never let another green thread run: a 10 MB body parsed in one go held message
# acks for 100-200 ms. Yield to the loop after every this many bytes.
YIELD_EVERY_BYTES = 512 * 1024
MAX_NAME_CHARS = 255
MAX_EXTENSION_CHARS = 16


@dataclass
class Spool:
    """One received file part: on disk, with its size, SHA-256 and first bytes."""

    path: Path
    filename: str | None
    limit: int
    size: int = 0
    head: bytes = b""
    _unyielded: int = 0
    _hash: Any = field(default_factory=hashlib.sha256)
    _file: IO[bytes] | None = None

    @classmethod
    def create(cls, directory: Path, filename: str | None, limit: int) -> Spool:
        fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=directory)
        spool = cls(Path(name), filename, limit)
        spool._file = os.fdopen(fd, "wb")
        return spool

    @property
    def sha256(self) -> str:
        return str(self._hash.hexdigest())

    # The file-object methods Werkzeug's parser calls.
    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(f"the file is larger than {self.limit} bytes")
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        self._hash.update(data)
        assert self._file is not None
        self._file.write(data)
        self._unyielded += len(data)
        if self._unyielded >= YIELD_EVERY_BYTES:
            self._unyielded = 0
            socketio.sleep(0)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Called once the part is complete: close the file (it is read by path from now on)."""
        self.close()
        return 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


@dataclass
class Received:
    """The file of an upload request, spooled, and its cleaned name."""

    name: str
    spool: Spool


def receive(request: Request, spool_directory: Path, max_bytes: int) -> Received:
    """Stream the ``file`` part of a multipart request into a spool file.

    Over ``max_bytes`` (the file) or the request limit (everything): 413 as soon as
    it is crossed, a declared Content-Length before a byte is read. Anything else
    that is not one file part: validation_error. Either way no spool file stays.
    """
    if request.mimetype != "multipart/form-data":
        raise ValidationError("send multipart/form-data with the file in the field 'file'")
    request.max_content_length = max_bytes + MULTIPART_OVERHEAD_BYTES
    _accept_chunked(request)
    spools: list[Spool] = []

    def factory(total_content_length: int | None, content_type: str | None, filename: str | None,
                content_length: int | None = None) -> IO[bytes]:
        spool = Spool.create(spool_directory, filename, max_bytes)
        spools.append(spool)
        return spool  # type: ignore[return-value]  # the three methods the parser calls

    parser = FormDataParser(stream_factory=factory, max_form_memory_size=MAX_BUFFER_BYTES,
                            max_form_parts=MAX_PARTS, silent=False)
    try:
        # request.stream applies max_content_length (413 on a larger Content-Length, before reading).
        _stream, _form, files = parser.parse(request.stream, request.mimetype, request.content_length,
                                             request.mimetype_params)
        parts = files.getlist(FIELD)
        if len(parts) != 1:
            raise field_error(FIELD, "required: exactly one file" if not parts else "send one file per upload")
        stream: object = parts[0].stream
        chosen = next(spool for spool in spools if spool is stream)
    except ValueError as exc:  # malformed multipart (Werkzeug's parser)
        _discard(spools)
        raise ValidationError(f"the multipart body is malformed: {exc}") from None
    except BaseException:
        _discard(spools)
        raise
    _discard([spool for spool in spools if spool is not chosen])
    return Received(clean_name(chosen.filename), chosen)


def _discard(spools: list[Spool]) -> None:
    for spool in spools:
        spool.discard()


def _accept_chunked(request: Request) -> None:
    """A chunked body (no Content-Length) under eventlet: its server decodes and
    ends the chunked stream itself but does not say so (``wsgi.input_terminated``,
    which gevent's and Werkzeug's servers set), and Werkzeug would read such a body
    as empty. Saying so makes Werkzeug count it against ``max_content_length``."""
    environ = request.environ
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    if chunked and getattr(environ.get("wsgi.input"), "chunked_input", False):
        environ["wsgi.input_terminated"] = True


def clean_name(raw: str | None) -> str:
    """The name to store and serve: the last path component, NFC, without control,
    format (bidi overrides: "gpj.exe" shown as "exe.jpg") or unassigned characters,
    no leading dots, at most 255 characters keeping a short extension; "file" when
    nothing is left."""
    name = unicodedata.normalize("NFC", (raw or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C")).strip().lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= MAX_EXTENSION_CHARS:
            name = stem[: MAX_NAME_CHARS - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME_CHARS].rstrip()
    return name or "file"
