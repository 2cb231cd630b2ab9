"""``python wsgi.py``: the listening socket and the server loop for each async mode.

Why not ``socketio.run()`` alone: its eventlet and gevent servers listen
without ``TCP_NODELAY``, so a small ack written right after another small
frame waits for the peer's delayed ACK (Nagle): the 600 s soak saw 10-20 % of
acks arrive 40-50 ms late. Linux copies ``TCP_NODELAY`` from the listener to
every accepted connection, so setting it once on the listener is enough.
gunicorn sets it on its own listeners already.
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


def serve(app: Any, socketio: Any, host: str, port: int, max_connections: int) -> None:
    """Serve until interrupted with the server of the configured async mode."""
    mode = socketio.async_mode
    if mode == "eventlet":
        import eventlet.wsgi

        # eventlet's WSGI server caps concurrent connections at 1024 by default.
        eventlet.wsgi.server(nodelay_listener(host, port), app, log_output=False, max_size=max_connections)
    elif mode == "gevent":
        from gevent import pywsgi
        from geventwebsocket.handler import WebSocketHandler

        pywsgi.WSGIServer(nodelay_listener(host, port), app, handler_class=WebSocketHandler, log=None).serve_forever()
    else:  # threading: Werkzeug, for development only
        socketio.run(app, host=host, port=port, log_output=False, allow_unsafe_werkzeug=True)
