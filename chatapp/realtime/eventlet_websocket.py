"""eventlet's WebSocket unmasking at C speed.

Every frame a client sends is masked (RFC 6455 5.3), and eventlet unmasks it in
pure Python, one generator step and one ``bytes`` object per byte
(``RFC6455WebSocket._apply_mask``): ~35 µs for a 200-byte ``message:send``, more
than SQLite's share of the whole send (issue 16's profile). XOR-ing the frame as
one big integer against the mask repeated to its length gives the same bytes in
a few C calls. ``install()`` replaces the method; wsgi.py calls it under eventlet.
"""

from __future__ import annotations

from collections.abc import Sequence


def apply_mask(data: bytes | bytearray | memoryview, mask: Sequence[int] | bytes, length: int | None = None,
               offset: int = 0) -> bytes:
    """``data[i] ^ mask[(offset + i) % 4]`` for the first ``length`` bytes (eventlet's contract)."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask)
    turn = offset % 4
    key = key[turn:] + key[:turn]
    repeated = (key * (length // 4 + 1))[:length]
    chunk = bytes(data[:length])
    return (int.from_bytes(chunk, "little") ^ int.from_bytes(repeated, "little")).to_bytes(length, "little")


def install() -> None:
    from eventlet.websocket import RFC6455WebSocket

    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)
