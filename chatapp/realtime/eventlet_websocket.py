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

After the upgrade, eventlet's WSGI server keeps the connection's HTTP read
buffer (8 KiB, its first page written by the request headers) and its write
buffer (16 KiB, never used: the handshake reply goes straight to the socket)
for as long as the WebSocket lives, though the WebSocket reads and writes the
socket itself: ``release_request_buffer`` frees both once the handshake reply
is out (the read buffer ~4.5 KiB of RSS per idle socket, 73 -> 69 KiB at 2,000
sockets; the write buffer ~5 KiB more, 66.9 -> 61.9 KiB at 3,000 sockets).

What else an idle upgraded connection kept and never uses again goes the same
way (``release_idle_state``): the request's parsed headers on eventlet's
protocol object, eventlet's own environ (Flask-SocketIO's copy of it is what
the socket's handlers read) and its raw-header tuple, and three empty
``collections.deque`` (~0.75 KiB each: the send lock's waiters, the connection
green thread's exit callbacks, the Engine.IO queue) become ``CompactDeque``.

``install()`` replaces the methods; wsgi.py calls it under eventlet.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from http.client import HTTPMessage
from typing import Any

from .internals import Frames, coalesce_websocket_writes, compact

log = logging.getLogger(__name__)


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


def pack_frames(websocket: Any, frames: Frames) -> bytes:
    """Each frame as ``RFC6455WebSocket.send`` would pack it, one after the other."""
    return b"".join(websocket._pack_message(frame, masked=websocket.client) for frame in frames)


def send_frames(websocket: Any, frames: Frames) -> None:
    """The frames in one write."""
    websocket._send(pack_frames(websocket, frames))


# Where ``install`` puts the connection's HTTP write file in the environ: eventlet
# passes it to the request only for "Expect: 100-continue".
WFILE_KEY = "chat.eventlet.wfile"
# Set once the 101 reply is out: from then on nothing more goes out as HTTP.
UPGRADED_KEY = "chat.eventlet.upgraded"
# A WebSocket upgrade request's eventlet protocol object, by weak reference (no cycle).
PROTOCOL_KEY = "chat.eventlet.protocol"
# What an upgraded connection's protocol object holds as its request headers:
# eventlet reads them after the response only to log X-Forwarded-For, and the
# server runs without a request log (serving.py: log_output=False).
NO_HEADERS = HTTPMessage()
# What eventlet still reads from its own environ once the application returned.
ENVIRON_KEPT = ("eventlet.input", "eventlet.posthooks")


def release_request_buffer(environ: dict[str, Any]) -> None:
    """Free the HTTP read and write buffers of an upgraded connection. eventlet's
    server reads nothing more from it (a closed file ends its keep-alive loop, as
    it ends anyway after a WebSocket) and writes nothing: its response was the
    WebSocket's, and its ``finish`` skips a closed write file."""
    request_input = environ.get("eventlet.input")
    if request_input is not None:
        request_input.rfile.close()  # the socket stays open: the file was one of its references
    wfile = environ.pop(WFILE_KEY, None)
    if wfile is not None:
        wfile.close()  # nothing buffered: the handshake reply went to the socket


def release_idle_state(environ: dict[str, Any], websocket: Any) -> None:
    """Drop what an upgraded connection keeps for its life and never uses again:
    the protocol object's parsed request headers, and empty deques for lists."""
    import eventlet

    protocol_ref = environ.pop(PROTOCOL_KEY, None)
    protocol = protocol_ref() if protocol_ref is not None else None
    if protocol is not None:
        protocol.headers = NO_HEADERS
        # Flask-SocketIO hands the application a copy of eventlet's environ, and
        # the socket's handlers read that copy: eventlet's own is read again only
        # for its post-response hooks.
        original = getattr(protocol, "environ", None)
        if isinstance(original, dict) and original is not environ:
            kept = {key: original[key] for key in ENVIRON_KEPT if key in original}
            original.clear()
            original.update(kept)
    environ.pop("headers_raw", None)  # eventlet's tuple of the raw headers: nothing reads it
    websocket._sendlock._waiters = compact(websocket._sendlock._waiters)
    connection_thread = eventlet.getcurrent()  # the WSGI server's green thread for this connection
    if getattr(connection_thread, "_exit_funcs", None) is not None:
        connection_thread._exit_funcs = compact(connection_thread._exit_funcs)


def send_without_waiting(websocket: Any, frames: Frames) -> bytes | bool | None:
    """Write the frames only as far as the socket takes them now (never waiting): None
    when all went out; False when nothing was written because the WebSocket cannot
    write now (another write holds its send lock, or it is not a plain TCP socket);
    else the bytes not written, and the send lock stays held for whoever writes
    them, so no other frame can come between (internals._Unsent)."""
    from eventlet.greenio import GreenSocket

    sock = websocket.socket
    if type(sock) is not GreenSocket or not websocket._sendlock.acquire(blocking=False):
        return False
    try:
        data = pack_frames(websocket, frames)
        try:
            sent = sock.fd.send(data)  # the non-blocking socket under eventlet's GreenSocket
        except BlockingIOError:
            sent = 0
    except BaseException:
        websocket._sendlock.release()
        raise
    if sent >= len(data):
        websocket._sendlock.release()
        return None
    return data[sent:]


def send_rest(websocket: Any, unsent: bytes) -> None:
    """What ``send_without_waiting`` left unsent, waiting as long as it takes; then its
    send lock, held since, is released (internals._Unsent)."""
    try:
        websocket.socket.sendall(unsent)
    finally:
        websocket._sendlock.release()


class EndOfTurnWrites:
    """The queues due for ``write_now``, called by one timer of the hub at the end of
    this turn of the event loop: every socket written to during the turn gets all
    its packets in one write, from the loop itself, with no writer task started
    and no switch to one (a direct message's recipient gets ``message:new`` and
    ``unread``, each member of a room the same)."""

    def __init__(self) -> None:
        self.due: list[Any] = []

    def __call__(self, queue: Any) -> None:
        self.due.append(queue)
        if len(self.due) == 1:
            from eventlet.hubs import get_hub

            get_hub().schedule_call_global(0, self.run)

    def run(self) -> None:
        due, self.due = self.due, []
        for queue in due:
            try:
                queue.write_now()
            except Exception:  # a bug: never leave the other sockets of the turn unwritten
                log.exception("end-of-turn write failed")


def install(end_of_turn_writes: bool = True) -> None:
    from eventlet.websocket import RFC6455WebSocket, WebSocket, WebSocketWSGI
    from eventlet.wsgi import HttpProtocol

    from . import internals

    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)
    RFC6455WebSocket.send_without_waiting = send_without_waiting
    RFC6455WebSocket.send_rest = send_rest
    internals.write_soon = EndOfTurnWrites() if end_of_turn_writes else None
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
    WebSocket.send_without_waiting = lambda self, frames: False  # hixie-76: its writer frames it

    handshake = WebSocketWSGI._handle_hybi_request

    def handle_hybi_request(self: Any, environ: dict[str, Any]) -> Any:
        websocket = handshake(self, environ)  # the 101 reply went straight to the socket
        environ[UPGRADED_KEY] = True
        release_request_buffer(environ)
        release_idle_state(environ, websocket)
        # The message queue of the pre-RFC 6455 protocol's wait(): RFC6455WebSocket
        # has its own wait() and never touches it (an empty deque is ~0.7 KiB).
        websocket._msgs = ()
        return websocket

    WebSocketWSGI._handle_hybi_request = handle_hybi_request

    if not getattr(WebSocketWSGI.__call__, "_chat_upgraded", False):
        serve = WebSocketWSGI.__call__

        def serve_upgraded(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            try:
                return serve(self, environ, start_response)
            except Exception:
                if not environ.get(UPGRADED_KEY):
                    raise
                # After the 101 the HTTP response is over and its write file is
                # released: eventlet would write a 500 into the WebSocket stream
                # (now: fail on the closed file, a traceback per bad client).
                # Logged the way eventlet logs it, below the default level.
                log.debug("websocket handler failed", exc_info=True)
                from eventlet import wsgi

                wsgi.WSGI_LOCAL.already_handled = True
                return []

        serve_upgraded._chat_upgraded = True  # type: ignore[attr-defined]
        WebSocketWSGI.__call__ = serve_upgraded

    if not getattr(RFC6455WebSocket.close, "_chat_once", False):
        close_once = RFC6455WebSocket.close

        def close(self: Any, close_data: Any = None) -> None:
            # Both the reader (a close frame) and engineio's writer close a WebSocket.
            # Without the HTTP files' references, the first close closes the file
            # descriptor, and the second one's shutdown would log EBADF per socket.
            if getattr(self, "_chat_closed", False):
                return
            self._chat_closed = True
            close_once(self, close_data)

        close._chat_once = True  # type: ignore[attr-defined]
        RFC6455WebSocket.close = close

    if not getattr(HttpProtocol.get_environ, "_chat_wfile", False):
        make_environ = HttpProtocol.get_environ

        def get_environ(self: Any) -> dict[str, Any]:
            environ: dict[str, Any] = make_environ(self)
            environ[WFILE_KEY] = self.wfile
            if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                environ[PROTOCOL_KEY] = weakref.ref(self)
            return environ

        get_environ._chat_wfile = True  # type: ignore[attr-defined]
        HttpProtocol.get_environ = get_environ
    coalesce_websocket_writes()
