"""The one place the server emits events: ``grep publish`` finds them all.

Services queue ``Event``s (delivered after commit); this turns each into a
single emit addressed to per-user rooms, so every device of every recipient
gets it, on whichever worker it is connected.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import cast

from flask_socketio import SocketIO

from ..metrics import EVENTS_OUT
from ..services.accounts import user_room
from ..services.events import Event, EventEach, Publisher
from . import NAMESPACE

log = logging.getLogger(__name__)


def make_publisher(socketio: SocketIO) -> Publisher:
    def publish(event: Event) -> None:
        rooms = [user_room(uid) for uid in event.users] + list(event.rooms)
        if not rooms:
            return
        try:
            # The python-socketio server directly: Flask-SocketIO's wrapper adds
            # nothing here but per-call overhead on the hot path.
            socketio.server.emit(event.name, event.payload, to=rooms, namespace=NAMESPACE)
            EVENTS_OUT.labels(event.name).inc()
            if event.disconnect:
                for room in event.rooms:
                    socketio.server.manager.disconnect_room(room, NAMESPACE)
        except Exception:
            _failed(event.name)

    def each(event: EventEach) -> None:
        """A payload per user in one call (managers.py ``emit_each``): a room
        message's 99 ``unread`` emits were a fifth of its CPU as separate emits."""
        try:
            socketio.server.manager.emit_each(
                event.name, [(user_room(uid), payload) for uid, payload in event.payloads], NAMESPACE
            )
            EVENTS_OUT.labels(event.name).inc(len(event.payloads))
        except Exception:
            _failed(event.name)

    def batch() -> AbstractContextManager[None]:
        """One message-queue publish for every event published inside (managers.py)."""
        return cast(AbstractContextManager[None], socketio.server.manager.batch())

    publish.batch = batch  # type: ignore[attr-defined]
    publish.each = each  # type: ignore[attr-defined]
    return publish


def _failed(name: str) -> None:
    # The data is committed; clients recover it through sync. Never let
    # a queue hiccup turn a stored message into an error for the sender.
    log.exception("publish of %s failed", name)
    from ..metrics import PUBLISH_FAILURES

    PUBLISH_FAILURES.inc()
