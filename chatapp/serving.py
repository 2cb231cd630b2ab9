"""``python wsgi.py``: the listening socket and the server loop for each async mode.

Why not ``socketio.run()`` alone: its eventlet and gevent servers listen
without ``TCP_NODELAY``, so a small ack written right after another small
frame waits for the peer's delayed ACK (Nagle): the 600 s soak saw 10-20 % of
acks arrive 40-50 ms late. Linux copies ``TCP_NODELAY`` from the listener to
every accepted connection, so setting it once on the listener is enough.
gunicorn sets it on its own listeners already.

Neither eventlet's nor gevent's WSGI server limits how long a client may take
to send its request headers (eventlet's ``socket_timeout`` is per read and
would also cut idle websockets). A client that opens connections and sends
half its headers, a byte now and then (slow loris), holds a green thread, a
file descriptor and a connection slot each for as long as it likes. Here
every request gets a deadline for its headers (``header_timeout``) and every
connection one for the first byte of its next request (``idle_timeout``);
past it the connection is closed. WebSocket and long-poll traffic after the
headers is not affected (Engine.IO's own ping timeout covers it).
"""

from __future__ import annotations

import socket
from typing import Any


def nodelay_listener(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A listening TCP socket (green once monkey-patched) whose connections skip Nagle."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(address)
    listener.listen(backlog)
    return listener


# Seconds a client has to send a request's headers once the request line is in
# (a real client sends them in one packet), and to start its next request on a
# kept-alive connection (long-polling clients send the next poll at once).
HEADER_TIMEOUT_SECONDS = 10.0
IDLE_TIMEOUT_SECONDS = 60.0


def eventlet_protocol(header_timeout: float, idle_timeout: float) -> type:
    """eventlet's HttpProtocol with deadlines on the request line and the headers."""
    import eventlet
    import eventlet.wsgi

    class DeadlineProtocol(eventlet.wsgi.HttpProtocol):
        def _read_request_line(self) -> bytes | str:  # eventlet's hook for the request line ('' when closed)
            timer = eventlet.Timeout(idle_timeout)
            try:
                line: bytes | str = super()._read_request_line()
                return line
            except eventlet.Timeout as expired:
                if expired is not timer:
                    raise
                self.close_connection = 1
                return ""
            finally:
                timer.cancel()

        def parse_request(self) -> bool:  # reads the headers
            timer = eventlet.Timeout(header_timeout)
            try:
                parsed: bool = super().parse_request()
                return parsed
            except eventlet.Timeout as expired:
                if expired is not timer:
                    raise
                self.close_connection = 1
                return False  # eventlet closes without an answer
            finally:
                timer.cancel()

    return DeadlineProtocol


def gevent_handler(header_timeout: float, idle_timeout: float) -> type:
    """gevent-websocket's handler with the same deadlines."""
    import gevent
    from geventwebsocket.handler import WebSocketHandler

    class DeadlineHandler(WebSocketHandler):
        def read_requestline(self) -> str:  # decoded as latin-1 by gevent
            timer = gevent.Timeout.start_new(idle_timeout)
            try:
                line: str = super().read_requestline()
                return line
            except gevent.Timeout as expired:
                if expired is not timer:
                    raise
                raise OSError("no request line before the idle timeout") from None  # gevent closes quietly
            finally:
                timer.close()

        def read_request(self, raw_requestline: str) -> bool:
            timer = gevent.Timeout.start_new(header_timeout)
            try:
                parsed: bool = super().read_request(raw_requestline)
                return parsed
            except gevent.Timeout as expired:
                if expired is not timer:
                    raise
                raise ValueError("request headers not received in time") from None  # gevent answers 400
            finally:
                timer.close()

    return DeadlineHandler


def serve(
    app: Any, socketio: Any, host: str, port: int, max_connections: int,
    header_timeout: float = HEADER_TIMEOUT_SECONDS, idle_timeout: float = IDLE_TIMEOUT_SECONDS,
) -> None:
    """Serve until interrupted with the server of the configured async mode."""
    mode = socketio.async_mode
    if mode == "eventlet":
        import eventlet.wsgi

        # eventlet's WSGI server caps concurrent connections at 1024 by default.
        eventlet.wsgi.server(
            nodelay_listener(host, port), app, log_output=False, max_size=max_connections,
            protocol=eventlet_protocol(header_timeout, idle_timeout),
        )
    elif mode == "gevent":
        from gevent import pywsgi

        pywsgi.WSGIServer(
            nodelay_listener(host, port), app, handler_class=gevent_handler(header_timeout, idle_timeout), log=None,
        ).serve_forever()
    else:  # threading: Werkzeug, for development only
        socketio.run(app, host=host, port=port, log_output=False, allow_unsafe_werkzeug=True)
