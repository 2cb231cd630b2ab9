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
from typing import Any

import socketio


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


class ChatRedisManager(socketio.RedisManager):
    """Redis-backed manager for several workers.

    ``batch()`` turns the emits of one commit (a DM's ``message:new`` and
    ``unread``; a 100-member room's 99 ``unread``) into one Redis message:
    one round trip for the sender's worker and one decode for every other
    worker, instead of one per emit. Receivers split it back (``_listen``).
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
            if len(messages) == 1:
                self._publish(messages[0])
            elif messages:
                self._publish({"method": "batch", "messages": messages, "host_id": self.host_id})

    def _listen(self) -> Iterator[object]:
        for raw in super()._listen():
            try:
                data = self.json.loads(raw)
            except Exception:
                continue  # python-socketio ignores undecodable messages too
            if isinstance(data, dict) and data.get("method") == "batch":
                yield from (m for m in data.get("messages") or () if isinstance(m, dict))
            else:
                yield data

    def _publish(self, data: object) -> object:
        buffered = getattr(self._batch, "messages", None)
        if buffered is not None:
            buffered.append(data)
            return True
        # python-socketio logs and swallows a failed publish (it returns None
        # after its retry); count it, so that a broken queue shows in /metrics.
        result = super()._publish(data)
        if result is None:
            from ..metrics import PUBLISH_FAILURES

            PUBLISH_FAILURES.inc()
        return result

    def disconnect_room(self, room: str, namespace: str) -> None:
        _disconnect_local(self, room, namespace)
        self._publish(
            {"method": "close_room", "room": room, "namespace": namespace, "disconnect": True, "host_id": self.host_id}
        )

    def _redis_connect(self) -> None:
        super()._redis_connect()
        # Keep subscribe confirmations: they tell us when a subscription was restored.
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=False)

    def _redis_listen_with_retries(self) -> Iterator[object]:
        """After the subscription to Redis is re-established (Redis restarted,
        network blip), events published meanwhile are lost: pub/sub is
        at-most-once. Tell this worker's sockets to ``sync`` (contract extension
        ``resync``); the database has everything."""
        subscriptions = 0
        for message in super()._redis_listen_with_retries():
            if isinstance(message, dict) and message.get("type") == "subscribe":
                subscriptions += 1
                if subscriptions > 1:
                    self._get_logger().warning("message queue subscription restored: asking clients to sync")
                    self.server.emit("resync", {"reason": "message_queue_reconnected"}, namespace="/chat",
                                     ignore_queue=True)
            yield message

    def _handle_close_room(self, message: dict[str, Any]) -> None:
        if message.get("disconnect"):
            room = message.get("room")
            if isinstance(room, str):  # our own publishers always name one
                _disconnect_local(self, room, message.get("namespace") or "/")
        else:
            super()._handle_close_room(message)
