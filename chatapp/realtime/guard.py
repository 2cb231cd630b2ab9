"""Hostile-input guard around python-socketio's and python-engineio's packet handling.

Problems in python-socketio 5.18.1 / python-engineio 4.15.1 that this closes:

* Binary packets (Socket.IO types 5 and 6) announce an attachment count of up
  to ten digits, and ``Server._handle_eio_message`` buffers every following
  binary frame until that many have arrived, with no cap: one client grows a
  worker by hundreds of megabytes. The /chat protocol is JSON only, so a
  client that sends binary is refused (closed) before anything is buffered.
* A malformed packet raises inside the Engine.IO ``message`` handler (or the
  polling POST handler), and engineio logs a full traceback per packet: a
  cheap way to fill the disk (log amplification). A malformed Socket.IO
  packet now closes its connection; every engineio error report becomes one
  short line, at most one per interval, with a count of the ones left out.
* A packet nested deeper than the JSON policy allows (chatapp/jsonmodule.py)
  used to get no ack and no close (the client waited for its timeout). An
  event with an ack id now gets a ``validation_error`` ack; without one the
  socket is closed like any malformed packet. Nothing reaches a handler.
* engineio decodes at most 16 packets per long-polling payload: a POST with
  more (socket.io-client flushing a burst of emits) was answered 200 and every
  packet of it lost, and a long-poll answer with more broke python-engineio's
  client. ``internals.LongPollingSocket`` takes what the byte cap allows and
  answers at most 16 per poll; a body that is no payload gets 400.
* After the server closes a socket, engineio's websocket reader keeps reading
  and dispatching whatever the client sends (the closing handshake needs the
  client's cooperation). A refused socket's next frame now ends the reader.

Flask-SocketIO builds ``socketio.Server`` itself (no server class option), so
``install()`` swaps the classes of that instance and of its Engine.IO server
after ``init_app``. The overrides of the libraries' private methods are in
chatapp/realtime/internals.py (``HookedServer``, ``ReaderEndsOnClosedSocket``);
this module implements their hooks.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import socketio

from .. import metrics
from ..jsonmodule import TooDeep
from ..services.errors import ValidationError
from . import internals

log = logging.getLogger(__name__)

# Socket.IO packet types that carry binary attachments (BINARY_EVENT, BINARY_ACK).
BINARY_TYPES = ("5", "6")
# Lifecycle names that a client may not emit as events.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
# At most one warning line per interval per kind of report; the rest are counted.
LOG_INTERVAL_SECONDS = 10.0


class ThrottledWarnings:
    """One short line per ``interval`` for each key, with how many were left out."""

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, key: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, float("-inf")) < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            left_out = self._suppressed.pop(key, 0)
        self.logger.warning("%s (%d similar left out of the log since the last report)", message, left_out)


_refusals = ThrottledWarnings(log)


class QuietEngineIOLogger:
    """Stands in for engineio's logger: errors and tracebacks triggered by
    client input become throttled one-line warnings; info and debug go to the
    ``engineio.server`` logger as before (silent unless configured)."""

    def __init__(self, inner: logging.Logger) -> None:
        self.inner = inner
        self._throttled = ThrottledWarnings(inner)
        # engineio logs every packet it queues (``Socket.send``: logger.info). Bound
        # here, not found by ``__getattr__`` after a failed lookup each time: that
        # was 5% of a room message's CPU. The level is still checked per call.
        self.info = inner.info
        self.debug = inner.debug

    def _report(self, msg: str, *args: Any, **kwargs: Any) -> None:
        text = msg % args if args else msg
        exc = sys.exc_info()[1]
        detail = f": {type(exc).__name__}: {str(exc)[:100]}" if exc is not None else ""
        self._throttled(text[:100], f"engineio: {text[:200]}{detail}")

    exception = error = critical = _report

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self._report(msg, *args)

    def __getattr__(self, name: str) -> Any:  # info, debug, isEnabledFor, level, ...
        return getattr(self.inner, name)


class ChatServer(internals.HookedServer):
    def on_eio_message(self, eio_sid: str, data: object, handle: Callable[[str, object], None]) -> None:
        if not isinstance(data, str):
            return self._refuse(eio_sid, "binary_frame", "a binary frame")
        if data[:1] in BINARY_TYPES:
            return self._refuse(eio_sid, "binary_packet", "a binary Socket.IO packet")
        try:
            handle(eio_sid, data)
        except TooDeep as exc:
            self._refuse_too_deep(eio_sid, data, exc)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            # Decoding errors (bad JSON, bad id, unknown type, unexpected
            # namespace). /chat handlers catch their own errors, so what
            # reaches here is the client's malformed packet.
            self._refuse(eio_sid, "malformed_packet", "a malformed Socket.IO packet")

    def on_event(self, eio_sid: str, namespace: str | None, id: int | None, data: object,
                 handle: Callable[[str, str | None, int | None, object], None]) -> None:
        # An event is a list whose first item is the name (a string). python-socketio
        # dispatches anything to a background task, where a bad shape would raise
        # with a traceback and no ack; refuse it here like other malformed packets.
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ValueError("an event must be [name, ...args]")
        if data[0] in RESERVED_EVENTS:
            # python-socketio would run the namespace's on_connect/on_disconnect
            # for an *event* of that name (a second login, a fake disconnect).
            # Renamed, it gets the namespace's "unknown event" validation_error ack.
            data = [f"reserved:{data[0]}", *data[1:]]
        # The event name only: payloads carry message bodies.
        log.debug("event %.60r on %s from %s", data[0], namespace or "/", eio_sid)
        handle(eio_sid, namespace, id, data)

    def _refuse_too_deep(self, eio_sid: str, data: str, exc: TooDeep) -> None:
        """An error ack for an event that expects one, so the client is not left waiting."""
        header = internals.decode_header(data)
        namespace = (header.namespace if header else None) or "/"
        if (
            header is None
            or header.packet_type != socketio.packet.EVENT
            or header.id is None
            or not self.manager.sid_from_eio_sid(eio_sid, namespace)
        ):
            return self._refuse(eio_sid, "too_deep", "a packet nested too deeply")
        metrics.SHED.labels("too_deep").inc()
        _refusals("too_deep", "refused an event nested too deeply (error ack)")
        ack = {"ok": False, **ValidationError(str(exc)).envelope()}
        self.send_ack(eio_sid, namespace, header.id, [ack])

    def _refuse(self, eio_sid: str, reason: str, description: str) -> None:
        metrics.SHED.labels(reason).inc()
        _refusals(reason, f"closed a socket that sent {description}")
        self.drop_attachments(eio_sid)
        self.close_now(eio_sid)


def install(server: socketio.Server) -> None:
    # The private methods these hooks stand in for are overridden in chatapp/realtime/internals.py.
    internals.warn_if_changed(log)
    internals.install_server_classes(server, ChatServer, internals.ReaderEndsOnClosedSocket)
    # Long-polling bursts: neither a POST of more than 16 packets dropped nor a client broken by a long answer.
    internals.bound_long_polling()
    server.eio.logger = QuietEngineIOLogger(server.eio.logger)
