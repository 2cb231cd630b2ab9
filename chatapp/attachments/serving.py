"""The HTTP answer for an upload's bytes: nothing that can run, conditional, ranged.

Uploads are served from the chat's own origin, so what a browser does with
them matters: a file it rendered as HTML or SVG would run its scripts as this
origin, with the reader's session. So the type is the sniffed one (images,
audio, video, PDF), everything else ``application/octet-stream`` with
``Content-Disposition: attachment``; ``nosniff`` forbids guessing another;
``Content-Security-Policy: default-src 'none'; sandbox`` makes even a
navigation to the file run nothing (PDF excepted: browsers refuse to show a
PDF in a sandbox, and their viewers run a PDF's scripts in their own sandbox,
never as the page's origin).

``Cache-Control: private, no-cache``: a shared cache must never keep another
user's file, and the browser asks again each time (a 304 thanks to the ETag)
because who may read an upload changes: a member leaves, a message is deleted.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from flask import Response
from werkzeug.wrappers import Request

SANDBOX_POLICY = "default-src 'none'; sandbox"
PDF_POLICY = "default-src 'none'"
CACHE_CONTROL = "private, no-cache"


@dataclass(frozen=True)
class Served:
    """What is served: a part of an upload, its type and a way to read a byte range of it."""

    size: int
    sha256: str
    content_type: str
    name: str
    inline: bool
    read: Callable[[int, int], Iterable[bytes]]


def security_headers(response: Response) -> Response:
    """On every answer of the upload routes, errors included."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", SANDBOX_POLICY)
    # Only pages of this origin may embed it (no hotlinking with a reader's cookie).
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def answer(request: Request, served: Served) -> Response:
    """200, 206, 304 or 416 for ``served``, following the request's conditions and range."""
    etag = f'"{served.sha256[:32]}"'
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(served.name, served.inline),
        "Content-Security-Policy": PDF_POLICY if served.content_type == "application/pdf" else SANDBOX_POLICY,
    }
    if request.if_none_match.contains_weak(etag.strip('"')):
        return _bodiless(304, headers)
    try:
        span = _range(request, served.size, etag)
    except Unsatisfiable:
        return _bodiless(416, {**headers, "Content-Range": f"bytes */{served.size}"})
    start, stop = span or (0, served.size)
    response = Response(served.read(start, stop), status=206 if span else 200, headers=headers,
                        content_type=served.content_type, direct_passthrough=True)
    response.content_length = stop - start
    if span:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{served.size}"
    return response


def _bodiless(status: int, headers: dict[str, str]) -> Response:
    response = Response(status=status, headers=headers)
    del response.headers["Content-Type"]  # not even an empty text/html
    return response


class Unsatisfiable(Exception):
    """The range starts past the end (416)."""


def _range(request: Request, size: int, etag: str) -> tuple[int, int] | None:
    """The one byte range asked for as [start, stop), or None for the whole file (no
    Range, a malformed one, several ranges, or a stale If-Range). Raises ``Unsatisfiable``."""
    asked = request.range
    if asked is None or asked.units != "bytes" or len(asked.ranges) != 1:
        return None
    if_range = request.if_range
    if if_range.etag is not None and if_range.etag != etag.strip('"'):
        return None  # the client's copy is another version: send all of it
    if if_range.date is not None:
        return None  # no Last-Modified is sent, so a date never matches
    start, stop = asked.ranges[0]
    if start < 0:  # a suffix: the last -start bytes (all of them when the file is shorter)
        start = max(0, size + start)
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        raise Unsatisfiable
    return start, stop


def content_disposition(name: str, inline: bool) -> str:
    """``inline`` or ``attachment`` with the name twice: plain ASCII for old
    clients, and RFC 8187 UTF-8 for the rest."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(ch for ch in ascii_name if ch.isprintable() and ch not in '"\\') or "file"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
