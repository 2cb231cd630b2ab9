"""What an idle WebSocket keeps under eventlet (issue 16, memory per idle socket).

Each check runs in a child process of its own: eventlet's server needs the hub
and monkey-patching, which the in-process tests (threading) must not get.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("eventlet")


def run_child(code: str, timeout: float = 30) -> str:
    """Run ``code`` in a fresh interpreter; its stdout (it fails the test by exiting non-zero)."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# A client of eventlet's WSGI server: the WebSocket handshake, one frame read, and a plain request.
EVENTLET_SERVER = """
    import eventlet
    eventlet.monkey_patch()
    import eventlet.websocket
    import eventlet.wsgi
    from chatapp.realtime.eventlet_websocket import PROTOCOL_KEY, WFILE_KEY, install

    install()
    seen = {}

    def handler(ws):
        got = ws.wait()  # the client's frame, read by RFC 6455's own wait()
        ws.send(f"rfile closed {seen['rfile'].closed}, wfile closed {seen['wfile'].closed}, "
                f"legacy queue {ws._msgs!r}, got {got}")
        print(f"request headers kept {len(seen['protocol'].headers)}, "
              f"send lock waiters {type(ws._sendlock._waiters).__name__}, "
              f"connection exit callbacks {type(eventlet.getcurrent()._exit_funcs).__name__}")
        print(f"eventlet's environ {sorted(seen['original'])}, handler's host {ws.environ['HTTP_HOST']}, "
              f"raw headers {'headers_raw' in ws.environ}")

    websocket_app = eventlet.websocket.WebSocketWSGI(handler)

    def app(environ, start_response):
        if environ.get("HTTP_UPGRADE") == "websocket":
            seen["rfile"], seen["wfile"] = environ["eventlet.input"].rfile, environ[WFILE_KEY]
            seen["protocol"], seen["original"] = environ[PROTOCOL_KEY](), environ
            return websocket_app(environ.copy(), start_response)  # as Flask-SocketIO's middleware does
        assert PROTOCOL_KEY not in environ, "only an upgrade's protocol is reachable from its environ"
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    listener = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(eventlet.wsgi.server, listener, app, log_output=False)

    def request(head, then=b""):
        # head; once the reply's headers are in, then (RFC 6455 4.1: a client
        # sends frames only after the server's handshake); the whole reply
        client = eventlet.connect(listener.getsockname())
        client.sendall(head)
        data = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                return data
            data += chunk
            if then and b"\\r\\n\\r\\n" in data:
                client.sendall(then)
                then = b""
"""


def test_an_upgraded_connection_keeps_no_http_buffer_parsed_headers_or_empty_deques_and_plain_requests_answer():
    out = run_child(EVENTLET_SERVER + """
    upgrade = (b"GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")
    hello = b"\\x81\\x82" + bytes(4) + b"hi"  # a masked text frame "hi" (a zero mask)
    reply = request(upgrade, hello)  # the handler answers one frame and returns: the server closes the connection
    head, _, frames = reply.partition(b"\\r\\n\\r\\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    print(frames[2:2 + frames[1]].decode())
    print(request(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n").split(b"\\r\\n")[0].decode())
    """)
    assert out.splitlines() == [
        "request headers kept 0, send lock waiters CompactDeque, connection exit callbacks CompactDeque",
        "eventlet's environ ['eventlet.input', 'eventlet.posthooks'], handler's host x, raw headers False",
        "rfile closed True, wfile closed True, legacy queue (), got hi",
        "HTTP/1.1 200 OK",
    ]


def test_a_lock_and_a_queue_on_compact_deques_still_serve_their_waiters_first_come_first_served():
    out = run_child("""
    import eventlet
    from eventlet.queue import Queue
    from eventlet.semaphore import Semaphore
    from chatapp.realtime.internals import CompactDeque, compact

    lock = Semaphore()
    lock._waiters = compact(lock._waiters)
    order = []

    def holder(name):
        with lock:
            order.append(name)
            eventlet.sleep(0.01)  # the others queue up on the lock meanwhile

    threads = [eventlet.spawn(holder, n) for n in "abcd"]
    for thread in threads:
        thread.wait()
    queue = Queue()
    queue.queue = compact(queue.queue)
    getter = eventlet.spawn(lambda: [queue.get() for _ in range(3)])
    for item in (1, 2, 3):
        queue.put(item)
    print("".join(order), getter.wait(), queue.qsize(), type(lock._waiters).__name__, len(lock._waiters))
    """)
    assert out.split() == ["abcd", "[1,", "2,", "3]", "0", "CompactDeque", "0"]
