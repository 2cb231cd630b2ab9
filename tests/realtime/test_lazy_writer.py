"""Under eventlet a socket's writer task runs only while packets wait
(internals._WritingQueue, CoalescingSocket._websocket_handler) instead of being
parked for the socket's life, and a socket with no writer running gets the
packets of a turn of the event loop in one write at its end, from the loop
itself (``write_now``): what reaches the client, and in which order, is what
engineio's writer sends; what the socket does not take at once goes to a
writer, first; the server's close and the client's still end the connection;
an upgrade from long-polling still works.

Each test drives a real eventlet server in a child process (the hub and
monkey-patching stay out of the in-process tests).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import queue
import subprocess
import sys
import textwrap
import threading
import time

import engineio
import pytest

from chatapp.realtime import internals

pytest.importorskip("eventlet")
websocket = pytest.importorskip("websocket")

LINGER = 0.3

SERVER = f"""
    import eventlet
    eventlet.monkey_patch()
    from chatapp.realtime import internals
    from chatapp.realtime.eventlet_websocket import install
    install(end_of_turn_writes={{end_of_turn}})
    internals.WRITER_LINGER_SECONDS = {LINGER}
    import engineio
    import eventlet.wsgi
    eio = engineio.Server(async_mode="eventlet", ping_interval=25, ping_timeout=20)

    @eio.on("connect")
    def connect(sid, environ):
        print("connect", sid, flush=True)

    @eio.on("disconnect")
    def disconnect(sid, reason):
        print("disconnect", sid, reason, "writer", eio.sockets[sid].queue.writer, flush=True)

    @eio.on("message")
    def message(sid, data):
        if data.startswith("burst:"):
            for i in range(int(data[6:])):
                eio.send(sid, str(i))
        elif data.startswith("big:"):  # big:<packets>:<bytes each>, more than a socket buffer holds
            count, size = map(int, data[4:].split(":"))
            for i in range(count):
                eio.send(sid, str(i).ljust(size, "x"))
        elif data.startswith("burstbye:"):  # packets, then the server's close, in one turn
            for i in range(int(data[9:])):
                eio.send(sid, str(i))
            eio.disconnect(sid)
        elif data == "state":
            queue = eio.sockets[sid].queue
            print("writer", "running" if queue.writer is not None else "none", "queued", queue.qsize(), flush=True)
        elif data == "bye":
            eio.disconnect(sid)
        else:
            eio.send(sid, "echo " + data)

    listener = eventlet.listen(("127.0.0.1", 0))
    print("port", listener.getsockname()[1], flush=True)
    eventlet.wsgi.server(listener, engineio.WSGIApp(eio), log_output=False)
"""


class ChildServer:
    def __init__(self, end_of_turn: bool = True) -> None:
        source = textwrap.dedent(SERVER).replace("{end_of_turn}", str(end_of_turn))
        self.proc = subprocess.Popen([sys.executable, "-c", source], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.line(timeout=30)
        assert line.startswith("port "), line
        self.url = f"http://127.0.0.1:{line.split()[1]}/engine.io/"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def line(self, timeout: float = 10) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("no output from the server: " + self.proc.communicate()[1][-3000:]) from None

    def stop(self) -> str:
        self.proc.kill()
        return self.proc.communicate()[1]


@contextlib.contextmanager
def serving(end_of_turn: bool):
    """A child server, stopped afterwards; it must not have logged a traceback."""
    child = ChildServer(end_of_turn)
    try:
        yield child
    finally:
        errors = child.stop()
    assert "Traceback" not in errors, errors


@pytest.fixture
def server():
    with serving(end_of_turn=True) as child:
        yield child


def open_websocket(server: ChildServer):
    ws = websocket.create_connection(server.url.replace("http", "ws") + "?EIO=4&transport=websocket", timeout=10)
    assert ws.recv().startswith("0")  # OPEN
    sid = server.line().split()[1]
    return ws, sid


def writer_state(ws, server: ChildServer) -> str:
    ws.send("4state")
    return server.line()


def test_the_copied_engineio_handler_is_the_one_installed():
    source = inspect.getsource(internals.ENGINEIO_SOCKET._websocket_handler)
    assert hashlib.sha256(source.encode()).hexdigest() == internals.WEBSOCKET_HANDLER_SHA256, (
        "python-engineio's Socket._websocket_handler changed: re-read it against CoalescingSocket._websocket_handler"
    )


@pytest.mark.parametrize(("end_of_turn", "after_a_burst"), [
    (True, "writer none queued 0"),  # 300 packets of one turn in one write from the loop: no writer task
    (False, "writer running queued 0"),  # CHAT_WS_END_OF_TURN_WRITES=0: a busy socket keeps its writer
])
def test_an_idle_socket_has_no_writer_and_the_next_packets_arrive_in_order(end_of_turn, after_a_burst):
    with serving(end_of_turn) as server:
        ws, _sid = open_websocket(server)
        time.sleep(LINGER + 0.3)  # the OPEN packet's writer, if any, has ended
        assert writer_state(ws, server) == "writer none queued 0"
        ws.send("4burst:300")
        assert [ws.recv() for _ in range(300)] == [f"4{i}" for i in range(300)]
        ws.send("4hello")
        assert ws.recv() == "4echo hello"
        assert writer_state(ws, server) == after_a_burst
        time.sleep(LINGER + 0.3)
        assert writer_state(ws, server) == "writer none queued 0"
        ws.send("4again")
        assert ws.recv() == "4echo again"
        ws.close()


def test_what_the_socket_does_not_take_at_once_goes_to_a_writer_first_and_all_arrives_in_order(server):
    ws, _sid = open_websocket(server)
    ws.send("4big:4000:4096")  # 16 MiB in one turn, the client not reading: far more than the buffers hold
    time.sleep(0.5)
    assert writer_state_unread(server, ws) == "writer running"  # the rest waits in a writer, not in the loop
    got = [ws.recv() for _ in range(4000)]
    assert [packet[1:].rstrip("x") for packet in got] == [str(i) for i in range(4000)]
    assert all(len(packet) == 4097 for packet in got)  # no frame cut or interleaved
    ws.send("4hello")
    assert ws.recv() == "4echo hello"
    time.sleep(LINGER + 0.3)
    assert writer_state(ws, server) == "writer none queued 0"
    ws.close()


def writer_state_unread(server: ChildServer, ws) -> str:
    """The writer's state while the client has not read what is queued for it."""
    ws.send("4state")
    return " ".join(server.line().split()[:2])


def test_packets_and_the_servers_close_of_one_turn_arrive_in_that_order(server):
    ws, sid = open_websocket(server)
    ws.send("4burstbye:20")
    assert [ws.recv() for _ in range(20)] == [f"4{i}" for i in range(20)]
    assert ws.recv() == "1"  # CLOSE after them, written by the writer that closes
    assert ws.recv() == ""
    assert server.line().startswith(f"disconnect {sid} server disconnect")
    ws.close()


def test_the_server_closing_a_socket_sends_close_and_ends_the_connection(server):
    ws, sid = open_websocket(server)
    time.sleep(LINGER + 0.3)
    ws.send("4bye")
    assert server.line().startswith(f"disconnect {sid} server disconnect")
    assert ws.recv() == "1"  # engineio's CLOSE packet, written by a writer started for it
    assert ws.recv() == ""  # then the WebSocket close frame
    ws.close()


def test_a_client_that_goes_away_ends_the_socket_and_its_writer(server):
    ws, sid = open_websocket(server)
    ws.send("4burst:5")
    ws.close()
    line = server.line()
    assert line.startswith(f"disconnect {sid} transport close"), line
    # the reader's end waited for the writer, which closed the WebSocket
    assert line.endswith("writer None"), line


def test_an_upgrade_from_long_polling_still_carries_both_ways(server):
    client = engineio.Client()
    received: queue.Queue[str] = queue.Queue()
    client.on("message", received.put)
    client.connect(server.url.removesuffix("/engine.io/"), transports=["polling", "websocket"])
    try:
        server.line()  # connect
        deadline = time.monotonic() + 5
        while client.transport() != "websocket":
            assert time.monotonic() < deadline, "no upgrade"
            time.sleep(0.05)
        client.send("burst:50")
        assert [received.get(timeout=5) for _ in range(50)] == [str(i) for i in range(50)]
        time.sleep(LINGER + 0.3)
        client.send("after idle")
        assert received.get(timeout=5) == "echo after idle"
    finally:
        client.disconnect()
