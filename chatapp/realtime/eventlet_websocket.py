"""eventlet's WebSocket: unmasking at C speed, and queued frames in one write.

Every frame a client sends is masked (RFC 6455 5.3), and eventlet unmasks it in
pure Python, one generator step and one ``bytes`` object per byte
(``RFC6455WebSocket._apply_mask``): ~35 µs for a 200-byte ``message:send``, more
than SQLite's share of the whole send (issue 16's profile). XOR-ing the frame as
one big integer against the mask repeated to its length gives the same bytes in
a few C calls.

engineio's writer writes each queued packet with its own ``sendall``; with
``CoalescingSocket`` (internals.py) it hands over all queued packets as one
``Frames``, which ``send`` packs frame by frame and writes at once.

``install()`` replaces the methods; wsgi.py calls it under eventlet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .internals import Frames, coalesce_websocket_writes


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


def send_frames(websocket: Any, frames: Frames) -> None:
    """Each frame as ``RFC6455WebSocket.send`` would pack it, in one write."""
    websocket._send(b"".join(websocket._pack_message(frame, masked=websocket.client) for frame in frames))


def install() -> None:
    from eventlet.websocket import RFC6455WebSocket, WebSocket

    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)
    one_frame = RFC6455WebSocket.send
    legacy_send = WebSocket.send

    def send(self: Any, message: Any, **kw: Any) -> None:
        if isinstance(message, Frames):
            send_frames(self, message)
        else:
            one_frame(self, message, **kw)

    def legacy(self: Any, message: Any) -> None:
        # The pre-RFC 6455 protocol (hixie-76) frames differently: one send each.
        for frame in message if isinstance(message, Frames) else (message,):
            legacy_send(self, frame)

    RFC6455WebSocket.send = send
    WebSocket.send = legacy
    coalesce_websocket_writes()
