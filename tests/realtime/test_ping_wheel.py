"""Keep-alive with one ping task per worker (internals.PingWheel) instead of a
parked task per socket: pings still go out one pingInterval after the
handshake and after each pong, and a client that stops answering is still
dropped once its pong is pingTimeout late, under eventlet, gevent and threading.

The wheel is installed in production under eventlet (eventlet_websocket.install,
through CoalescingSocket); the real-server tests install it the same way there
and with ``send_pings_from_one_task`` in the other modes.
"""

from __future__ import annotations

import inspect
import json
import queue
import subprocess
import sys
import textwrap
import threading
import time

import engineio
import pytest
import requests
from engineio import packet

from chatapp.realtime import internals
from chatapp.realtime.internals import PingWheel, PingWheelSocket


def pings(sock: engineio.socket.Socket) -> int:
    """How many PING packets the socket has queued for its client (drained)."""
    count = 0
    while not sock.queue.empty():
        count += sock.queue.get().packet_type == packet.PING
    return count


def make_socket(server: engineio.Server, sid: str) -> PingWheelSocket:
    sock = PingWheelSocket(server, sid)
    server.sockets[sid] = sock
    return sock


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# ---------------------------------------------------------------- the wheel, in process (threading)


def test_each_socket_is_pinged_one_interval_after_it_was_scheduled():
    server = engineio.Server(async_mode="threading", ping_interval=0.3)
    socks = [make_socket(server, f"s{i}") for i in range(3)]
    started = time.monotonic()
    for sock in socks:  # staggered by 0.1 s
        sock.schedule_ping()
        time.sleep(0.1)
    pinged_at = {}
    while len(pinged_at) < 3 and time.monotonic() - started < 3:
        for i, sock in enumerate(socks):
            if i not in pinged_at and sock.last_ping:
                pinged_at[i] = time.monotonic() - started
        time.sleep(0.002)
    for i in range(3):  # due at 0.3, 0.4, 0.5 s; never early, a little late at most
        assert 0.3 + 0.1 * i <= pinged_at[i] + 0.01 < 0.3 + 0.1 * i + 0.1, pinged_at
    assert [pings(s) for s in socks] == [1, 1, 1]


def test_a_ping_is_scheduled_once_per_pong_as_engineio_does():
    server = engineio.Server(async_mode="threading", ping_interval=0.1)
    sock = make_socket(server, "s")
    sock.schedule_ping()
    sock.schedule_ping()  # no ping went out in between: still one due
    wait_until(lambda: sock.last_ping)
    time.sleep(0.25)
    assert pings(sock) == 1  # no pong yet: no second ping
    sock.receive(packet.Packet(packet.PONG))
    wait_until(lambda: sock.last_ping)
    assert pings(sock) == 1


def test_a_closed_or_closing_socket_is_not_pinged():
    server = engineio.Server(async_mode="threading", ping_interval=0.1)
    closed, closing, live = (make_socket(server, sid) for sid in ("closed", "closing", "live"))
    for sock in (closed, closing, live):
        sock.schedule_ping()
    closed.closed = True
    closing.closing = True
    wait_until(lambda: live.last_ping)
    time.sleep(0.05)
    assert (pings(closed), pings(closing), pings(live)) == (0, 0, 1)


def test_the_task_ends_when_no_socket_waits_and_starts_again_with_the_next():
    server = engineio.Server(async_mode="threading", ping_interval=0.05)
    first = make_socket(server, "first")
    first.schedule_ping()
    wheel = internals.ping_wheel(server)
    wait_until(lambda: not wheel.running)
    assert pings(first) == 1 and not wheel.waiting
    second = make_socket(server, "second")
    second.schedule_ping()
    wait_until(lambda: second.last_ping)
    assert pings(second) == 1


def test_one_failing_socket_does_not_stop_the_pings_of_the_others(caplog):
    server = engineio.Server(async_mode="threading", ping_interval=0.05)
    broken, fine = make_socket(server, "broken"), make_socket(server, "fine")

    def fail() -> None:
        raise RuntimeError("boom")

    broken.send_ping = fail  # type: ignore[method-assign]
    broken.schedule_ping()
    fine.schedule_ping()
    wait_until(lambda: fine.last_ping)
    assert pings(fine) == 1
    assert "ping to broken failed" in caplog.text


def test_a_burst_of_due_sockets_is_pinged_in_one_pass_with_yields():
    class Server(engineio.Server):
        yields = 0

        def sleep(self, seconds=0):
            if seconds == 0:
                Server.yields += 1
            return super().sleep(seconds)

    server = Server(async_mode="threading", ping_interval=0.1)
    socks = [make_socket(server, f"s{i}") for i in range(PingWheel.YIELD_EVERY * 2 + 1)]
    for sock in socks:
        sock.schedule_ping()
    wait_until(lambda: all(s.last_ping for s in socks))
    assert sum(pings(s) for s in socks) == len(socks)
    assert Server.yields >= 2


def test_sockets_are_built_with_the_wheel_once_installed(monkeypatch):
    monkeypatch.setattr(engineio.socket, "Socket", engineio.socket.Socket)  # restored afterwards
    internals.send_pings_from_one_task()
    assert issubclass(engineio.socket.Socket, PingWheelSocket)
    internals.send_pings_from_one_task()  # twice: still the wheel's class, not a subclass of it
    assert engineio.socket.Socket is PingWheelSocket or issubclass(engineio.socket.Socket, internals.CoalescingSocket)


def test_the_engineio_code_the_wheel_stands_in_for_is_unchanged():
    # Pings are scheduled at connect and at each pong, through schedule_ping ...
    assert "s.schedule_ping()" in inspect.getsource(engineio.Server._handle_connect)
    assert "self.schedule_ping()" in inspect.getsource(internals.ENGINEIO_SOCKET.receive)
    # ... and engineio's own task sleeps one interval, then does what send_ping does.
    ping_task = inspect.getsource(internals.ENGINEIO_SOCKET._send_ping)
    for line in ("self.server.sleep(self.server.ping_interval)", "if not self.closing and not self.closed:",
                 "self.last_ping = time.time()", "self.send(packet.Packet(packet.PING))"):
        assert line in ping_task


# ---------------------------------------------------------------- real servers, each async mode

PING_INTERVAL = 1
PING_TIMEOUT = 1

SERVER = f"""
    import sys, time
    mode = sys.argv[1]
    if mode == "eventlet":
        import eventlet
        eventlet.monkey_patch()
        from chatapp.realtime.eventlet_websocket import install
        install()  # production: CoalescingSocket, pinged by the wheel
    elif mode == "gevent":
        from gevent import monkey
        monkey.patch_all()
    import engineio
    from chatapp.realtime import internals
    if mode != "eventlet":
        internals.send_pings_from_one_task()
    eio = engineio.Server(async_mode=mode, ping_interval={PING_INTERVAL}, ping_timeout={PING_TIMEOUT})

    @eio.on("connect")
    def connect(sid, environ):
        print("connect", sid, type(eio.sockets[sid]).__name__, flush=True)

    @eio.on("disconnect")
    def disconnect(sid, reason):
        print("disconnect", sid, reason, flush=True)

    app = engineio.WSGIApp(eio)
    if mode == "eventlet":
        import eventlet.wsgi
        listener = eventlet.listen(("127.0.0.1", 0))
        print("port", listener.getsockname()[1], flush=True)
        eventlet.wsgi.server(listener, app, log_output=False)
    elif mode == "gevent":
        from gevent.pywsgi import WSGIServer
        server = WSGIServer(("127.0.0.1", 0), app, log=None)
        server.start()
        print("port", server.server_port, flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import make_server
        server = make_server("127.0.0.1", 0, app, threaded=True)
        print("port", server.server_port, flush=True)
        server.serve_forever()
"""


class ChildServer:
    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SERVER), mode], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        _, line = self.next_line(timeout=30)
        assert line.startswith("port "), line
        self.url = f"http://127.0.0.1:{line.split()[1]}/engine.io/"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.strip()))

    def next_line(self, timeout: float = 10) -> tuple[float, str]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("no output from the server: " + self.proc.communicate()[1][-3000:]) from None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.communicate()


@pytest.fixture(params=["eventlet", "gevent", "threading"])
def child_server(request):
    if request.param != "threading":
        pytest.importorskip(request.param)
    server = ChildServer(request.param)
    yield request.param, server
    server.stop()


def polled(session: requests.Session, url: str, sid: str) -> list[str]:
    body = session.get(url, params={"EIO": "4", "transport": "polling", "sid": sid}, timeout=10).text
    return body.split("\x1e")


def test_pings_go_out_every_interval_and_a_silent_client_is_dropped_after_ping_timeout(child_server):
    mode, server = child_server
    session = requests.Session()
    opened = time.monotonic()
    handshake = session.get(server.url, params={"EIO": "4", "transport": "polling"}, timeout=10).text
    assert handshake.startswith("0"), handshake
    sid = json.loads(handshake[1:])["sid"]
    _, connected = server.next_line()
    expected_class = "CoalescingSocket" if mode == "eventlet" else "PingWheelSocket"
    assert connected == f"connect {sid} {expected_class}"
    since = opened
    for _ in range(3):  # the first ping one interval after the handshake, then one after each pong
        assert polled(session, server.url, sid) == ["2"]
        waited = time.monotonic() - since
        assert PING_INTERVAL - 0.1 <= waited <= PING_INTERVAL + 0.6, (mode, waited)
        session.post(server.url, params={"EIO": "4", "transport": "polling", "sid": sid}, data="3", timeout=10)
        since = time.monotonic()
    assert polled(session, server.url, sid) == ["2"]
    last_ping = time.monotonic()  # no pong from now on
    at, line = server.next_line(timeout=PING_INTERVAL + PING_TIMEOUT + 5)
    assert line == f"disconnect {sid} ping timeout"
    # engineio's service task checks each socket once per pingTimeout: dropped within two of them.
    assert PING_TIMEOUT - 0.1 <= at - last_ping <= 2 * PING_TIMEOUT + 1.0, (mode, at - last_ping)


def connection_ends(ws, websocket) -> bool:
    """The server's CLOSE packet, if it got out, then the end of the connection."""
    for _ in range(5):
        try:
            data = ws.recv()
        except (websocket.WebSocketException, OSError):
            return True
        if data == "":  # a close frame
            return True
        assert data == "1", data
    return False


def test_a_websocket_client_is_pinged_and_dropped_the_same_way_under_eventlet():
    pytest.importorskip("eventlet")
    websocket = pytest.importorskip("websocket")
    server = ChildServer("eventlet")
    try:
        ws = websocket.create_connection(server.url.replace("http", "ws") + "?EIO=4&transport=websocket", timeout=10)
        opened = time.monotonic()
        sid = json.loads(ws.recv()[1:])["sid"]
        assert server.next_line()[1] == f"connect {sid} CoalescingSocket"
        since = opened
        for _ in range(3):
            assert ws.recv() == "2"
            waited = time.monotonic() - since
            assert PING_INTERVAL - 0.1 <= waited <= PING_INTERVAL + 0.6, waited
            ws.send("3")
            since = time.monotonic()
        assert ws.recv() == "2"
        last_ping = time.monotonic()
        at, line = server.next_line(timeout=PING_INTERVAL + PING_TIMEOUT + 5)
        # Whichever comes first: the service task's ping check, or the WebSocket's
        # read timeout (pingInterval + pingTimeout after the pong, engineio's too).
        assert line in (f"disconnect {sid} ping timeout", f"disconnect {sid} transport close"), line
        assert PING_TIMEOUT - 0.1 <= at - last_ping <= 2 * PING_TIMEOUT + 1.0, at - last_ping
        assert connection_ends(ws, websocket)
        ws.close()
    finally:
        server.stop()
