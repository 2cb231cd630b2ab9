"""Client managers with one addition: disconnect every socket in a room, on every worker.

Logging out must close the sockets opened with that token wherever they are
connected. python-socketio can disconnect a sid across processes but not a
room, and a worker only knows its own sids. The request travels as a
``close_room`` message with a ``disconnect`` flag; each worker closes its
local participants (a worker without this subclass would merely close the room).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import socketio

from ..contract.events import Resync
from ..contract.objects import as_dict
from . import NAMESPACE, internals


def _disconnect_local(manager: socketio.Manager, room: str, namespace: str) -> None:
    for sid, _eio_sid in list(manager.get_participants(namespace, room)):
        manager.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class ChatManager(socketio.Manager):
    """Single-process manager (embedded mode)."""

    def disconnect_room(self, room: str, namespace: str) -> None:
        _disconnect_local(self, room, namespace)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Nothing to batch without a queue (see ``ChatRedisManager.batch``)."""
        yield


class ChatRedisManager(internals.HookedRedisManager):
    """Redis-backed manager for several workers.

    ``batch()`` turns the emits of one commit (a DM's ``message:new`` and
    ``unread``; a 100-member room's 99 ``unread``) into one Redis message:
    one round trip for the sender's worker and one decode for every other
    worker, instead of one per emit. Receivers split it back. The overrides
    of RedisManager's private methods are in chatapp/realtime/internals.py
    (``HookedRedisManager``); this class implements their hooks.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Per green thread under eventlet/gevent (threading.local is patched), per thread otherwise.
        self._batch = threading.local()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        if getattr(self._batch, "messages", None) is not None:
            yield  # already batching: the outer batch publishes
            return
        self._batch.messages = []
        try:
            yield
        finally:
            messages, self._batch.messages = self._batch.messages, None
            self.publish_many(messages)

    def publish(self, data: object) -> object:
        buffered = getattr(self._batch, "messages", None)
        if buffered is not None:
            buffered.append(data)
            return True
        # python-socketio logs and swallows a failed publish (it returns None
        # after its retry); count it, so that a broken queue shows in /metrics.
        result = super().publish(data)
        if result is None:
            from ..metrics import PUBLISH_FAILURES

            PUBLISH_FAILURES.inc()
        return result

    def disconnect_room(self, room: str, namespace: str) -> None:
        self.disconnect_local(room, namespace)
        self.publish_disconnect_room(room, namespace)

    def disconnect_local(self, room: str, namespace: str) -> None:
        _disconnect_local(self, room, namespace)

    def subscription_restored(self) -> None:
        """Events published while the subscription to Redis was down (Redis
        restarted, network blip) are lost: pub/sub is at-most-once. Tell this
        worker's sockets to ``sync`` (contract extension ``resync``); the
        database has everything."""
        self.queue_logger().warning("message queue subscription restored: asking clients to sync")
        resync = Resync(reason="message_queue_reconnected")
        self.server.emit(resync.NAME, as_dict(resync), namespace=NAMESPACE, ignore_queue=True)
