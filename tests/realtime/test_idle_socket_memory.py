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
    from chatapp.realtime.eventlet_websocket import WFILE_KEY, install

    install()
    seen = {}

    def handler(ws):
        got = ws.wait()  # the client's frame, read by RFC 6455's own wait()
        ws.send(f"rfile closed {seen['rfile'].closed}, wfile closed {seen['wfile'].closed}, "
                f"legacy queue {ws._msgs!r}, got {got}")

    websocket_app = eventlet.websocket.WebSocketWSGI(handler)

    def app(environ, start_response):
        if environ.get("HTTP_UPGRADE") == "websocket":
            seen["rfile"], seen["wfile"] = environ["eventlet.input"].rfile, environ[WFILE_KEY]
            return websocket_app(environ, start_response)
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


def test_an_upgraded_connection_keeps_neither_http_buffer_nor_the_legacy_queue_and_plain_requests_answer():
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
    assert out.splitlines() == ["rfile closed True, wfile closed True, legacy queue (), got hi", "HTTP/1.1 200 OK"]
