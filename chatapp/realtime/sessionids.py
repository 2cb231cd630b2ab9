"""Engine.IO session ids that name the worker holding the session.

Long-polling is a series of HTTP requests, and every one of them must reach
the worker that holds the Engine.IO session. A load-balancer cookie does that
only for clients that keep cookies; Node's socket.io-client (default options),
OkHttp and most bots keep none. Every request after the handshake, though,
carries the session id in its query string (``?EIO=4&transport=polling&sid=``,
the WebSocket upgrade too), so a sid of the form ``<worker id>.<random>``
lets HAProxy (``url_param(sid) -m beg w1.``) or nginx (``map $arg_sid``) route
it to its worker without any state of their own. docs/deployment.md has the
load-balancer side and what it costs.

``generate_id()`` is a public method of python-engineio's Server, the one
place it makes session ids (a test pins that); python-socketio draws its per-namespace sids from it too, so a client's
``socket.id`` names its worker as well. The random part is python-engineio's
own (96 random bits and a counter), so the sid stays unguessable. The hook
itself is ``internals.prefix_session_ids``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from . import internals

log = logging.getLogger(__name__)

# URL-safe without escaping, and without ".", which ends the prefix: "w1."
# never matches a sid of "w10.".
WORKER_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
SEPARATOR = "."


def install(eio_server: Any, worker_id: str | None, *, clustered: bool = False) -> None:
    """Prefix every session id ``eio_server`` generates with ``worker_id``.

    No worker id (the embedded single process) leaves the ids as they are;
    a cluster without one still works for WebSocket and cookie-keeping
    clients, so it is a warning, not an error.
    """
    if not worker_id:
        if clustered:
            log.warning(
                "CHAT_WORKER_ID is not set: behind a load balancer, long-polling clients without "
                "cookies cannot stay on this worker (docs/deployment.md, 'Stickiness')"
            )
        return
    if not WORKER_ID.match(worker_id):
        raise ValueError(f"CHAT_WORKER_ID must match {WORKER_ID.pattern}, got {worker_id!r}")
    internals.prefix_session_ids(eio_server, worker_id + SEPARATOR)


def worker_of(sid: str) -> str | None:
    """The worker id a session id names, or None for an unprefixed sid."""
    head, separator, _ = sid.partition(SEPARATOR)
    return head if separator else None
