"""The python-socketio / python-engineio internals this package borrows: the list and the overrides.

Every override of, or call to, a private method of the two libraries is in
this module: the subclasses below turn them into hooks with public names, and
guard.py, managers.py and sessionids.py implement those hooks (the product
logic) without touching a private name. The private methods are not public
API and may change in any release. ``check()`` (run by
tests/realtime/test_internals.py, so in CI) fails loudly when the installed
versions differ from the ones the overrides were written and tested for, or
when a borrowed attribute is gone: upgrade, re-read the library's code for
each entry, then update WRITTEN_FOR. The same test pins, in the libraries'
source, the behaviour each override relies on (RELIED_ON there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version
from typing import Any

import engineio
import socketio
from engineio import exceptions as eio_exceptions

log = logging.getLogger(__name__)

# engineio's own socket class: the install functions below replace the module's name.
ENGINEIO_SOCKET: type[engineio.socket.Socket] = engineio.socket.Socket

WRITTEN_FOR = {"python-socketio": "5.18.1", "python-engineio": "4.15.1"}

# (class, attribute, who relies on it and for what)
BORROWED: list[tuple[type, str, str]] = [
    (socketio.Server, "_handle_eio_message", "HookedServer.on_eio_message (guard): refuse binary/malformed packets"),
    (socketio.Server, "_handle_event", "HookedServer.on_event (guard): event shape and reserved names"),
    (socketio.Server, "_send_packet", "HookedServer.send_ack (guard): error ack for a too-deep event"),
    (socketio.Server, "_binary_packet", "HookedServer.drop_attachments (guard): a refused socket's attachments"),
    (engineio.Server, "_trigger_event", "ReaderEndsOnClosedSocket (guard): end a refused socket's reader"),
    (engineio.Server, "generate_id", "prefix_session_ids (sessionids): the one place session ids are made"),
    (engineio.socket.Socket, "poll", "CoalescingSocket (eventlet_websocket): the websocket writer's queued packets; "
     "LongPollingSocket.poll: a copy (POLL_SHA256), a long-poll's answer bounded"),
    (engineio.socket.Socket, "handle_post_request",
     "LongPollingSocket.handle_post_request: a copy (HANDLE_POST_REQUEST_SHA256), a POST's packet limit"),
    (engineio.socket.Socket, "_websocket_handler",
     "CoalescingSocket._websocket_handler: a copy (WEBSOCKET_HANDLER_SHA256), its writer runs only while needed"),
    (engineio.socket.Socket, "schedule_ping", "PingWheelSocket: the next ping goes to the worker's PingWheel"),
    (engineio.socket.Socket, "_send_ping", "PingWheelSocket.send_ping: what engineio's ping task does after its sleep"),
    (socketio.RedisManager, "_publish", "HookedRedisManager.publish (managers): batching and failure counting"),
    (socketio.RedisManager, "_listen", "HookedRedisManager: split batches, listen on every listened_channels()"),
    (socketio.RedisManager, "_redis_connect",
     "HookedRedisManager: keep subscribe confirmations; redis_client() (managers: the route table)"),
    (socketio.RedisManager, "_redis_listen_with_retries",
     "HookedRedisManager: replaced, to subscribe listened_channels() and call subscription_established/restored"),
    (socketio.RedisManager, "_handle_close_room",
     "HookedRedisManager.disconnect_local (managers): disconnect a room on every worker"),
    (socketio.RedisManager, "_get_logger", "HookedRedisManager.queue_logger (managers): the manager's own logger"),
    (socketio.base_manager.BaseManager, "basic_disconnect",
     "SidRoomIndex.basic_disconnect (managers' base): a copy whose rooms come from the index"),
    (socketio.base_manager.BaseManager, "get_rooms", "SidRoomIndex.get_rooms (managers' base): from the index"),
]


def check() -> list[str]:
    """What no longer matches: empty when the overrides still apply."""
    problems = [
        f"{name} {version(name)} installed, the overrides were written for {wanted}"
        for name, wanted in WRITTEN_FOR.items()
        if version(name) != wanted
    ]
    problems += [
        f"{cls.__module__}.{cls.__name__}.{attribute} is gone ({why})"
        for cls, attribute, why in BORROWED
        if not hasattr(cls, attribute) and not _set_in_init(cls, attribute)
    ]
    return problems


def warn_if_changed(logger: logging.Logger) -> None:
    """At startup: a deployment that upgraded the libraries without the tests says so in its log."""
    for problem in check():
        logger.warning("python-socketio internals: %s (chatapp/realtime/internals.py)", problem)


def _set_in_init(cls: type, attribute: str) -> bool:
    """An instance attribute (``_binary_packet``): assigned by some ``__init__`` of the class."""
    for klass in cls.__mro__:
        code = getattr(vars(klass).get("__init__"), "__code__", None)
        if code is not None and attribute in code.co_names:
            return True
    return False


# ---------------------------------------------------------------- Engine.IO and Socket.IO servers (guard.py)


class ReaderEndsOnClosedSocket(engineio.Server):
    """After the server closes a socket, engineio's websocket reader keeps
    dispatching what the client sends; a closed socket's next message ends it."""

    def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message" and args and args[0] not in self.sockets:
            # This ends the websocket read loop, or fails the polling POST.
            raise eio_exceptions.SocketIsClosedError()
        return super()._trigger_event(event, *args, **kwargs)


class _HeaderOnly(socketio.packet.Packet):
    """Decodes a packet's type, namespace and id, ignoring its JSON (which failed)."""

    class json:  # noqa: N801 (the attribute name Packet uses)
        @staticmethod
        def loads(data: str) -> None:
            return None


def decode_header(data: str) -> socketio.packet.Packet | None:
    """A text packet's type, namespace and id (its data left out), or None if even those do not decode."""
    try:
        return _HeaderOnly(encoded_packet=data)
    except ValueError:
        return None


class HookedServer(socketio.Server):
    """socketio.Server with its private packet entry points as hooks.

    A subclass implements ``on_eio_message`` (every Engine.IO message, before
    python-socketio decodes or buffers it) and ``on_event`` (every decoded
    event, before it is dispatched); each receives the library's own handler
    to call when the packet is accepted.
    """

    def _handle_eio_message(self, eio_sid: str, data: object) -> None:
        self.on_eio_message(eio_sid, data, super()._handle_eio_message)

    def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: object) -> None:
        self.on_event(eio_sid, namespace, id, data, super()._handle_event)

    def on_eio_message(self, eio_sid: str, data: object, handle: Callable[[str, object], None]) -> None:
        handle(eio_sid, data)

    def on_event(self, eio_sid: str, namespace: str | None, id: int | None, data: object,
                 handle: Callable[[str, str | None, int | None, object], None]) -> None:
        handle(eio_sid, namespace, id, data)

    def send_ack(self, eio_sid: str, namespace: str, id: int, data: list[Any]) -> None:
        self._send_packet(eio_sid, self.packet_class(socketio.packet.ACK, namespace=namespace, id=id, data=data))

    def drop_attachments(self, eio_sid: str) -> None:
        """Forget the binary attachments buffered for ``eio_sid``."""
        self._binary_packet.pop(eio_sid, None)

    def close_now(self, eio_sid: str) -> None:
        """Close an Engine.IO socket without waiting for its send queue."""
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None:
            # wait=False: a polling client that never polls again must not
            # block this task forever on the send queue (Server.disconnect waits).
            sock.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)
            self.eio.sockets.pop(eio_sid, None)


def install_server_classes(server: socketio.Server, server_class: type[HookedServer],
                           eio_class: type[ReaderEndsOnClosedSocket]) -> None:
    """Flask-SocketIO builds ``socketio.Server`` itself (no server class option):
    swap the classes of that instance and of its Engine.IO server, and
    re-register the Engine.IO ``message`` handler, which was bound to the old method."""
    if type(server) is not socketio.Server or type(server.eio) is not engineio.Server:
        raise TypeError("expected the plain socketio.Server built by Flask-SocketIO")
    server.__class__ = server_class
    server.eio.__class__ = eio_class
    server.eio.on("message", server._handle_eio_message)


# ---------------------------------------------------------------- long-polling payloads (all async modes)

# The most packets python-engineio's client decodes from one payload (16): a
# long-poll answer with more makes it drop the connection.
POLL_ANSWER_PACKETS: int = engineio.payload.Payload.max_decode_packets

# A POST may carry one packet per this many bytes of the byte cap (4,096 at 64 KiB):
# the smallest /chat event is over 40 bytes, so an honest client never meets it,
# and one request still starts a bounded number of handlers.
POSTED_BYTES_PER_PACKET = 16


class RefusedPayload(eio_exceptions.EngineIOError):
    """A long-polling POST that is not a payload: engineio answers 400 and closes the session."""


class LongPollingSocket(ENGINEIO_SOCKET):
    """Long-polling that neither loses a burst nor breaks a python-engineio client.

    engineio decodes at most 16 packets per payload, in both directions:

    * socket.io-client sends every emit of one tick in one POST, up to the
      ``maxPayload`` bytes of the handshake (an outbox flushed after a tunnel).
      A POST of more than 16 raised inside engineio's POST handler, which answers
      200 to any such error: every message of the burst was lost, silently. Here a
      POST carries as many packets as its byte cap allows (Node's engine.io has no
      count limit either), bounded by ``POSTED_BYTES_PER_PACKET``; a body that is
      not a payload is refused with 400 and the session closed, instead of a 200
      that drops it.
    * A long-poll answered with more than 16 made python-engineio's client drop
      the connection ("Unexpected packet from server"). A poll here returns at
      most ``POLL_ANSWER_PACKETS``; the rest wait for the client's next poll.
    """

    upgraded: bool  # engineio's

    def handle_post_request(self, environ: dict[str, Any]) -> None:
        length = int(environ.get("CONTENT_LENGTH", "0"))
        cap = self.server.max_http_buffer_size
        if length > cap:
            self._refuse_post(f"{length} bytes, the cap is {cap}")
            raise eio_exceptions.ContentTooLongError()
        payload = engineio.payload.Payload()
        payload.max_decode_packets = max(POLL_ANSWER_PACKETS, cap // POSTED_BYTES_PER_PACKET)
        try:
            payload.decode(environ["wsgi.input"].read(length).decode("utf-8"))
        except ValueError as exc:  # not UTF-8, an empty or undecodable packet, too many packets
            self._refuse_post(str(exc))
            raise RefusedPayload(str(exc)) from None
        for pkt in payload.packets:
            self.receive(pkt)

    def _refuse_post(self, why: str) -> None:
        """Close the session before engineio answers 400: its own close waits until
        a long-poll has taken the queued packets, which held this POST's answer
        for as long as the client had no poll open."""
        self.server.logger.warning("%s: refused a long-polling POST: %s", self.sid, why)
        self.close(wait=False, reason=self.server.reason.TRANSPORT_ERROR)

    def poll(self) -> list[Any]:
        if self.upgraded:
            return super().poll()  # type: ignore[no-any-return]
        # engineio's poll (POLL_SHA256), with the answer's length bounded.
        queue_empty = self.server.get_queue_empty_exception()
        try:
            packets = [self.queue.get(timeout=self.server.ping_interval + self.server.ping_timeout)]
            self.queue.task_done()
        except queue_empty:
            raise eio_exceptions.QueueEmpty() from None
        if packets == [None]:
            return []
        while len(packets) < POLL_ANSWER_PACKETS:
            try:
                pkt = self.queue.get(block=False)
                self.queue.task_done()
            except queue_empty:
                break
            if pkt is None:
                self.queue.put(None)
                break
            packets.append(pkt)
        return packets


# engineio's Socket.poll and handle_post_request that LongPollingSocket's copy (python-engineio
# 4.15.1): tests/realtime/test_long_polling.py fails when they change; re-read them then.
POLL_SHA256 = "d7d705066fd3b9487de647e24e548526a34264ca5b92a61705f26a7471b6e73f"
HANDLE_POST_REQUEST_SHA256 = "5be8170455a3482c727998a3c416628a915d8ac61dc9780f6cd9f5ae03ac210c"


def bound_long_polling() -> None:
    """Every Engine.IO socket made from now on is a ``LongPollingSocket`` (the
    eventlet mode's ``CoalescingSocket`` is one already)."""
    if not issubclass(engineio.socket.Socket, LongPollingSocket):
        engineio.socket.Socket = LongPollingSocket


# ---------------------------------------------------------------- keep-alive: one ping task per worker


class PingWheel:
    """The next ping of every socket of one Engine.IO server, sent by one task.

    engineio starts a task per socket at connect and after each pong, which
    sleeps pingInterval (25 s) and then sends the ping: a parked green thread
    per idle socket (~7 KiB of RSS each under eventlet; a real thread each in
    threading mode). Every socket waits the same interval, so the sockets due
    next are always at the front of one FIFO: this task sleeps until the first
    is due, pings every socket due by then, and ends when none waits (the next
    ``schedule`` starts it again). The ping itself is engineio's (``send_ping``),
    so a dead client is dropped as before: the ping sets ``last_ping``, and
    engineio's service task (or the next send) closes the socket once its pong
    is pingTimeout late.
    """

    # Pings between yields to the loop: a thousand sockets due in the same
    # second must not hold up the events of the others.
    YIELD_EVERY = 200

    def __init__(self, server: engineio.Server) -> None:
        self.server = server
        self.waiting: deque[tuple[float, PingWheelSocket]] = deque()
        self.running = False
        self._lock = threading.Lock()

    def schedule(self, sock: PingWheelSocket) -> None:
        due = time.monotonic() + self.server.ping_interval
        with self._lock:
            self.waiting.append((due, sock))
            if self.running:
                return
            self.running = True
        self.server.start_background_task(self._run)

    def _run(self) -> None:
        sent = 0
        while True:
            with self._lock:
                if not self.waiting:
                    self.running = False
                    return
                due, sock = self.waiting[0]
                wait = due - time.monotonic()
                if wait <= 0:
                    self.waiting.popleft()
            if wait > 0:
                # Nothing scheduled later can be due earlier: the interval is the same for all.
                self.server.sleep(wait)
                continue
            try:
                sock.send_ping()
            except Exception:  # one socket's failure must not stop every other socket's pings
                log.exception("ping to %s failed", sock.sid)
            sent += 1
            if sent % self.YIELD_EVERY == 0:
                self.server.sleep(0)


_wheels_lock = threading.Lock()


def _per_server(server: engineio.Server, attribute: str, make: Callable[[engineio.Server], Any]) -> Any:
    """The server's ``attribute``, made by ``make(server)`` on first use."""
    made = getattr(server, attribute, None)
    if made is None:
        with _wheels_lock:
            made = getattr(server, attribute, None)
            if made is None:
                made = make(server)
                setattr(server, attribute, made)
    return made


def ping_wheel(server: engineio.Server) -> PingWheel:
    """The server's wheel, made on first use."""
    wheel: PingWheel = _per_server(server, "_chat_ping_wheel", PingWheel)
    return wheel


class PingWheelSocket(LongPollingSocket):
    """An Engine.IO socket whose pings the server's ``PingWheel`` sends."""

    last_ping: float | None  # engineio's: when the unanswered ping went out (time.time()), None once ponged

    def schedule_ping(self) -> None:
        # engineio's rule: a new ping only once the previous one's wait is over
        # (the ping sets last_ping, the pong's schedule_ping clears it).
        if self.last_ping:
            self.last_ping = None
            ping_wheel(self.server).schedule(self)

    def send_ping(self) -> None:
        """engineio's ``_send_ping`` after its sleep."""
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.send(engineio.packet.Packet(engineio.packet.PING))


def send_pings_from_one_task() -> None:
    """Every Engine.IO socket made from now on is pinged by its server's wheel
    (the sockets are built as ``socket.Socket(self, sid)``)."""
    if not issubclass(engineio.socket.Socket, PingWheelSocket):
        engineio.socket.Socket = PingWheelSocket


# ---------------------------------------------------------------- the websocket writer (eventlet_websocket.py)


class Frames(tuple[str | bytes, ...]):
    """Encoded Engine.IO packets that leave as consecutive WebSocket frames, in one write."""

    __slots__ = ()


class CompactDeque(list[Any]):
    """The deque API that eventlet's queues, semaphores and green threads use
    (``append``, ``popleft``, ``remove``, ``len``, ``in``) on a list: an empty
    ``collections.deque`` allocates its first 64-slot block (~0.75 KiB), a list
    56 bytes. Every idle socket keeps three of them, almost always empty, and
    each holds a handful of items at most, so ``pop(0)`` costs nothing."""

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def compact(container: Any) -> Any:
    """``container`` as a ``CompactDeque`` if it is a deque (its items kept), else unchanged."""
    return CompactDeque(container) if type(container) is deque else container


class _QueuedPackets:
    """All the packets one ``poll()`` took from a socket's queue, as one item whose
    ``encode()`` is their ``Frames``."""

    __slots__ = ("packets",)

    def __init__(self, packets: list[Any]) -> None:
        self.packets = packets

    def encode(self) -> Frames:
        return Frames(packet.encode() for packet in self.packets)


class CoalescingSocket(PingWheelSocket):
    """engineio's websocket writer sends each queued packet with its own write:
    ``for pkt in self.poll(): ws.send(pkt.encode())``. One send puts two packets in
    each socket's queue at once (the sender's ``message:new`` and ack, the recipient's
    ``message:new`` and ``unread``; every member of a room gets two), so handing the
    writer all of them as one item lets the WebSocket (eventlet_websocket.py) write
    them with one ``sendall``: half the system calls and writer wake-ups. Only an
    upgraded (websocket) socket: a long-poll GET returns before the upgrade, and
    never polls an upgraded socket. Its pings come from the wheel (PingWheelSocket)."""

    connected: bool  # engineio's

    def poll(self) -> list[Any]:
        packets: list[Any] = super().poll()
        if len(packets) > 1 and self.upgraded:
            return [_QueuedPackets(packets)]
        return packets

    def __init__(self, server: engineio.Server, sid: str) -> None:
        super().__init__(server, sid)
        self.queue.__class__ = _writing_queue_class(type(self.queue))
        self.queue.queue = compact(self.queue.queue)  # eventlet's LightQueue: append/popleft/len

    def _websocket_handler(self, ws: Any) -> list[Any]:
        """engineio's (its source pinned by WEBSOCKET_HANDLER_SHA256), but the writer
        task runs only while packets wait (``_WritingQueue``) instead of for the
        socket's life: a parked green thread per idle socket, ~8 KiB of RSS."""

        def websocket_wait() -> Any:
            data = ws.wait()
            if data and len(data) > self.server.max_http_buffer_size:
                raise ValueError('packet is too large')
            return data

        for attr in ['_sock', 'socket']:  # pragma: no cover
            if hasattr(ws, attr) and hasattr(getattr(ws, attr), 'settimeout'):
                getattr(ws, attr).settimeout(self.server.ping_interval + self.server.ping_timeout)

        if self.connected:
            # the socket was already connected, so this is an upgrade
            self.upgrading = True  # hold packet sends during the upgrade

            pkt = websocket_wait()
            decoded_pkt = engineio.packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != engineio.packet.PING or decoded_pkt.data != 'probe':
                self.server.logger.info('%s: Failed websocket upgrade, no PING packet', self.sid)
                self.upgrading = False
                return []
            ws.send(engineio.packet.Packet(engineio.packet.PONG, data='probe').encode())
            self.queue.put(engineio.packet.Packet(engineio.packet.NOOP))  # end poll

            pkt = websocket_wait()
            decoded_pkt = engineio.packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != engineio.packet.UPGRADE:
                self.upgraded = False
                self.server.logger.info(
                    ('%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.'), self.sid, pkt)
                self.upgrading = False
                return []
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        # engineio starts its writer task here; ours starts with the first packet queued.
        queue: _WritingQueue = self.queue
        queue.write_to(ws, self.server)

        self.server.logger.info('%s: Upgrade to websocket successful', self.sid)

        while True:
            p = None
            try:
                p = websocket_wait()
            except Exception as e:
                # if the socket is already closed, we can assume this is a
                # downstream error of that
                if not self.closed:  # pragma: no cover
                    self.server.logger.info('%s: Unexpected error "%s", closing connection', self.sid, str(e))
                break
            if p is None:
                # connection closed by client
                break
            pkt = engineio.packet.Packet(encoded_packet=p)
            try:
                self.receive(pkt)
            except eio_exceptions.UnknownPacketError:  # pragma: no cover
                pass
            except eio_exceptions.SocketIsClosedError:  # pragma: no cover
                self.server.logger.info('Receive error -- socket is closed')
                break
            except:  # noqa: E722  # pragma: no cover
                # if we get an unexpected exception we log the error and exit
                # the connection properly
                self.server.logger.exception('Unknown receive error')
                break
            pkt = None  # not kept (with its payload) while the socket waits for the next

        self.queue.put(None)  # unlock the writer task so that it can exit
        queue.join_writer()
        self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

        return []


class _WritingQueue:
    """A socket's send queue that writes itself to the socket's WebSocket: a put
    starts the writer task when none runs, and the writer ends after
    ``WRITER_LINGER_SECONDS`` without a packet, so an idle socket has no task
    (a busy one keeps its writer: no task started per message). What it writes
    and how is engineio's writer's: every queued packet, one write for several
    (``_QueuedPackets``); ``None`` closes the WebSocket and ends the writer, as a
    failed write does. Mixed into the async mode's queue class
    (``_writing_queue_class``); holds no reference to its socket (no cycle)."""

    ws: Any = None  # class defaults: a long-polling socket's queue gets no attribute
    writer: Any = None
    server: Any = None
    # Packets put while no writer ran and nothing waited: written at the end of this
    # turn of the event loop, together, without a writer task (``write_soon``).
    soon: list[Any] | None = None

    def write_to(self, ws: Any, server: engineio.Server) -> None:
        self.server = server
        self.ws = ws
        if self.empty():  # type: ignore[attr-defined]
            return
        if write_soon is None:
            self._start_writer()
            return
        # What waited for the upgrade (a new socket's OPEN): at the end of this turn, no writer.
        self.soon = []
        while not self.empty():  # type: ignore[attr-defined]
            self.soon.append(self.get(block=False))  # type: ignore[attr-defined]
            self.task_done()  # type: ignore[attr-defined]
        write_soon(self)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if self.soon is not None:
            if item is not None:
                self.soon.append(item)
                return
            self._queue_soon()  # the close comes after them, through the writer
        elif (item is not None and self.writer is None and self.ws is not None and write_soon is not None
              and self.empty()):  # type: ignore[attr-defined]
            self.soon = [item]
            write_soon(self)
            return
        super().put(item, block, timeout)  # type: ignore[misc]
        if self.writer is None and self.ws is not None:
            self._start_writer()

    def _queue_soon(self) -> None:
        """The packets waiting for the end of the turn go to the writer instead, first."""
        soon, self.soon = self.soon, None
        for packet in soon or ():
            super().put(packet)  # type: ignore[misc]

    def write_now(self) -> None:
        """The end of the turn (``write_soon``'s call, in the event loop itself: it must
        not wait): every packet put since, in one write that does not wait. What the
        socket does not take at once (a full send buffer, a slow client) goes to a
        writer task, which writes it first; so does everything when the WebSocket
        cannot write now (its send lock taken) or the write fails (the writer's
        write fails the same way, and closes)."""
        soon = self.soon
        if soon is None:
            return  # queued for the writer meanwhile (a close came after them)
        ws = self.ws
        if ws is not None and self.writer is None:
            frames = _QueuedPackets(soon).encode()
            try:
                unsent = ws.send_without_waiting(frames)
            except Exception:
                unsent = False
            if unsent is None:
                self.soon = None
                return
            if unsent is not False:  # the rest of a half-written frame, the send lock still held
                self.soon = None
                super().put(_Unsent(unsent))  # type: ignore[misc]
                self._start_writer()
                return
        self._queue_soon()
        if self.ws is not None and self.writer is None:
            self._start_writer()

    def join_writer(self) -> None:
        writer = self.writer
        if writer is None:
            return
        green = getattr(writer, "g", None)
        if green is not None:
            # engineio's EventletThread.join tests ``if self.g``, and a green thread
            # that has not run yet is false (greenlet truth = started and not dead),
            # so a writer spawned just before (the close's) was not waited for.
            green.wait()
        else:
            writer.join()

    def _start_writer(self) -> None:
        self.writer = self.server.start_background_task(self._write)
        writer_sweep(self.server).watch(self)

    def end_if_idle(self, now: float) -> None:
        """The sweep's call: a writer with nothing queued for ``WRITER_LINGER_SECONDS``
        gets ``_IDLE``, and ends on it unless packets came after it."""
        if now - self.last_packet >= WRITER_LINGER_SECONDS and self.empty():  # type: ignore[attr-defined]
            super().put(_IDLE)  # type: ignore[misc]  # not our put: a writer runs

    last_packet = 0.0  # time.monotonic() of the writer's last wake-up for packets

    def _write(self) -> None:
        queue_empty = self.server.get_queue_empty_exception()
        ws = self.ws
        try:
            while True:
                # No timeout here: eventlet schedules and cancels a timer for each
                # wait with one, a wait per packet in a busy room. The server's
                # WriterSweep ends an idle writer instead.
                packets = [self.get()]  # type: ignore[attr-defined]
                self.task_done()  # type: ignore[attr-defined]
                if type(packets[0]) is _Unsent:
                    try:
                        ws.send_rest(packets[0].data)
                    except Exception:
                        self.ws = None
                        ws.close()
                        return
                    continue
                if packets[0] is _IDLE:
                    if self.empty():  # type: ignore[attr-defined]
                        return  # idle: the next put starts a writer again
                    continue
                self.last_packet = time.monotonic()
                while packets[-1] is not None:
                    try:
                        item = self.get(block=False)  # type: ignore[attr-defined]
                    except queue_empty:
                        break
                    self.task_done()  # type: ignore[attr-defined]
                    if item is not _IDLE:
                        packets.append(item)
                ending = packets[-1] is None
                if ending:
                    packets.pop()
                try:
                    if len(packets) > 1:
                        ws.send(_QueuedPackets(packets).encode())
                    elif packets:
                        ws.send(packets[0].encode())
                except Exception:
                    ending = True
                if ending:
                    self.ws = None  # no writer after this one
                    ws.close()
                    return
        finally:
            self.writer = None


# engineio's Socket._websocket_handler that CoalescingSocket's copies (python-engineio
# 4.15.1): tests/realtime/test_lazy_writer.py fails when it changes; re-read it then.
WEBSOCKET_HANDLER_SHA256 = "58afe122719282de1def07b5530c154fbf41a40481bc8a787c4eb7d94db56c9c"

# How long a writer waits for the next packet before it ends (a busy socket keeps it).
WRITER_LINGER_SECONDS = 2.0

# What the sweep queues to end an idle writer.
_IDLE = object()

# Set by the async mode that can write at the end of a turn of its event loop
# (eventlet_websocket.install): called with a queue whose ``write_now`` is due then.
write_soon: Callable[[_WritingQueue], None] | None = None


class _Unsent:
    """The bytes of frames a write without waiting left unsent, with the WebSocket's
    send lock still held: the writer writes them before anything else
    (``ws.send_rest``, which then releases the lock), so nothing else can
    interleave with the half-written frame."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class WriterSweep:
    """Ends the writers of one Engine.IO server that had no packet for
    ``WRITER_LINGER_SECONDS`` (between one and one and a half of it): one task
    looks at the running writers every half linger, instead of each writer
    waiting for its next packet with a timeout of its own. Runs while a writer
    runs; the next writer started starts it again."""

    def __init__(self, server: engineio.Server) -> None:
        self.server = server
        self.watched: set[_WritingQueue] = set()
        self.running = False

    def watch(self, queue: _WritingQueue) -> None:
        self.watched.add(queue)
        if not self.running:
            self.running = True
            self.server.start_background_task(self._run)

    def _run(self) -> None:
        while True:
            self.server.sleep(WRITER_LINGER_SECONDS / 2)
            now = time.monotonic()
            for queue in list(self.watched):
                if queue.writer is None:
                    self.watched.discard(queue)
                else:
                    queue.end_if_idle(now)
            if not self.watched:
                self.running = False
                return


def writer_sweep(server: engineio.Server) -> WriterSweep:
    """The server's sweep, made on first use."""
    sweep: WriterSweep = _per_server(server, "_chat_writer_sweep", WriterSweep)
    return sweep


_writing_queues: dict[type, type] = {}


def _writing_queue_class(base: type) -> type:
    cls = _writing_queues.get(base)
    if cls is None:
        cls = _writing_queues[base] = type(f"Writing{base.__name__}", (_WritingQueue, base), {})
    return cls


def coalesce_websocket_writes() -> None:
    """Every Engine.IO socket made from now on is a ``CoalescingSocket``: engineio's
    server builds them as ``socket.Socket(self, sid)``. Only where the WebSocket
    understands ``Frames`` (eventlet_websocket.install)."""
    engineio.socket.Socket = CoalescingSocket


# ---------------------------------------------------------------- session ids (sessionids.py)


def prefix_session_ids(eio_server: engineio.Server, prefix: str) -> None:
    """Every session id ``eio_server`` makes (python-socketio's sids too) starts with ``prefix``."""
    random_id: Callable[[], str] = eio_server.generate_id

    def generate_id() -> str:
        return prefix + random_id()

    eio_server.generate_id = generate_id


# ---------------------------------------------------------------- the Redis client manager (managers.py)


# python-socketio's BaseManager.basic_disconnect that SidRoomIndex's copies (5.18.1):
# tests/realtime/test_sid_room_index.py fails when it changes; re-read it then.
BASIC_DISCONNECT_SHA256 = "2933b50bc4b2ea7b4367a84e05c2e22c52fed98b00afc3b88d06d61ab9fb9aa1"


class SidRoomIndex:
    """python-socketio finds a socket's rooms by testing it against every room
    of the namespace (``BaseManager.basic_disconnect``, after copying the room
    table, and ``get_rooms``). Every socket brings its own room, a user room
    and a token room, so with 10,000 sockets each disconnect tests ~30,000
    rooms, and a reconnect storm costs the square of the sockets. This keeps,
    per socket, the rooms it entered besides its own and the namespace's (a
    tuple: one or two rooms), and answers both from it. Placed before the
    python-socketio manager class, so that subclasses' enter/leave hooks (the
    route table) still run for every room a disconnect leaves."""

    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, list[str]]
    pending_disconnect: dict[str, list[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._entered: dict[str, dict[str, tuple[Any, ...]]] = {}

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        if room is not None and room != sid:
            entered = self._entered.setdefault(namespace, {})
            rooms = entered.get(sid, ())
            if room not in rooms:
                entered[sid] = (*rooms, room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        entered = self._entered.get(namespace, {})
        rooms = entered.get(sid, ())
        if room in rooms:
            rest = tuple(r for r in rooms if r != room)
            if rest:
                entered[sid] = rest
            else:
                del entered[sid]
                if not entered:
                    del self._entered[namespace]

    def _rooms_holding(self, sid: str, namespace: str) -> list[Any]:
        """The rooms of ``namespace`` that hold ``sid``, the namespace's own (None) first."""
        rooms = self.rooms.get(namespace, {})
        candidates = (None, sid, *self._entered.get(namespace, {}).get(sid, ()))
        return [room for room in candidates if room in rooms and sid in rooms[room]]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self._rooms_holding(sid, namespace) if room is not None]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """python-socketio 5.18.1's (its source pinned by BASIC_DISCONNECT_SHA256), but
        the rooms come from the index."""
        if namespace not in self.rooms:
            return
        for room in self._rooms_holding(sid, namespace):
            self.basic_leave_room(sid, namespace, room)
        if sid in self.callbacks:
            del self.callbacks[sid]
        if namespace in self.pending_connect and sid in self.pending_connect[namespace]:
            self.pending_connect[namespace].remove(sid)
            if len(self.pending_connect[namespace]) == 0:
                del self.pending_connect[namespace]
        if namespace in self.pending_disconnect and sid in self.pending_disconnect[namespace]:
            self.pending_disconnect[namespace].remove(sid)
            if len(self.pending_disconnect[namespace]) == 0:
                del self.pending_disconnect[namespace]


class HookedRedisManager(socketio.RedisManager):
    """socketio.RedisManager with its private pub/sub methods as hooks.

    * ``publish(data)``: every message to the other workers (python-socketio's
      emits included); None when python-socketio gave up (it logs and swallows).
    * ``publish_many(messages)``: several messages as one Redis message, split
      back on every receiving worker.
    * ``publish_disconnect_room(room, namespace)``: every worker's
      ``disconnect_local(room, namespace)`` runs (a ``close_room`` message with
      a ``disconnect`` flag; a worker without this class merely closes the room).
    * ``listened_channels()``: the channels this worker subscribes to (the
      common one first); messages on any of them are handled alike.
    * ``subscription_established()``: every listened channel is subscribed,
      for the first time.
    * ``subscription_restored()``: the Redis subscription was re-established,
      so messages published meanwhile are lost (pub/sub is at-most-once).
    * ``redis_client()``: the manager's Redis client, connected.
    * ``message_received(channel)`` and ``concerns_this_worker(message)``:
      each Redis message as it arrives, each decoded one before it is handled.
    """

    def publish(self, data: object) -> object:
        return super()._publish(data)

    def publish_many(self, messages: list[object]) -> None:
        if len(messages) == 1:
            self.publish(messages[0])
        elif messages:
            self.publish({"method": "batch", "messages": messages, "host_id": self.host_id})

    def publish_disconnect_room(self, room: str, namespace: str) -> None:
        self.publish(
            {"method": "close_room", "room": room, "namespace": namespace, "disconnect": True, "host_id": self.host_id}
        )

    def disconnect_local(self, room: str, namespace: str) -> None:
        raise NotImplementedError

    def queue_logger(self) -> Any:
        """The logger python-socketio's manager reports to (the server's, or its own)."""
        return self._get_logger()

    def subscription_restored(self) -> None:
        pass

    def subscription_established(self) -> None:
        pass

    def listened_channels(self) -> list[str]:
        return [self.channel]

    def redis_client(self) -> Any:
        if not self.connected or self.redis is None:
            self._redis_connect()
        return self.redis

    def _publish(self, data: object) -> object:
        return self.publish(data)

    def _listen(self) -> Iterator[object]:
        channels = {channel.encode("utf-8"): channel for channel in self.listened_channels()}
        for message in self._redis_listen_with_retries():
            channel = channels.get(message.get("channel"))  # type: ignore[arg-type]
            if channel is not None and message.get("type") == "message" and "data" in message:
                self.message_received(channel)
                yield from self._split(message["data"])

    def _split(self, raw: object) -> Iterable[object]:
        try:
            data = self.json.loads(raw)
        except Exception:
            return ()  # python-socketio ignores undecodable messages too
        if isinstance(data, dict) and data.get("method") == "batch":
            # Each keeps its sender's host_id, so a worker skips its own.
            return [m for m in data.get("messages") or () if isinstance(m, dict) and self.concerns_this_worker(m)]
        return (data,) if self.concerns_this_worker(data) else ()

    def message_received(self, channel: str) -> None:
        """One Redis message arrived on ``channel`` (before it is decoded)."""

    def concerns_this_worker(self, message: object) -> bool:
        """False for a decoded message this worker need not handle (skipped before python-socketio sees it)."""
        return True

    def _redis_connect(self) -> None:
        super()._redis_connect()
        # Keep subscribe confirmations: they tell us when a subscription was restored.
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=False)

    def _redis_listen_with_retries(self) -> Iterator[dict[str, Any]]:
        """RedisManager's loop (reconnect with back-off up to 60 s), subscribing
        every listened channel; the hooks run once all of them are confirmed,
        whether this loop re-subscribed or redis-py did after a silent reconnect."""
        channels = self.listened_channels()
        retry_sleep = 1
        subscribed = established = False
        pending = len(channels)  # confirmations still due for a complete set
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    pubsub = self.pubsub
                    pending = len(channels)
                    pubsub.subscribe(*channels)
                    subscribed = True
                    retry_sleep = 1
                for message in pubsub.listen():
                    if message.get("type") == "subscribe":
                        pending -= 1
                        if pending == 0:
                            pending = len(channels)
                            if established:
                                self.subscription_restored()
                            else:
                                established = True
                                self.subscription_established()
                    yield message
            except Exception as exc:
                self._get_logger().error(
                    f"Cannot receive from redis... retrying in {retry_sleep} secs",
                    extra={"redis_exception": str(exc)},
                )
                subscribed = False
                time.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, 60)

    def _handle_close_room(self, message: dict[str, Any]) -> None:
        if message.get("disconnect"):
            room = message.get("room")
            if isinstance(room, str):  # our own publishers always name one
                self.disconnect_local(room, message.get("namespace") or "/")
        else:
            super()._handle_close_room(message)
