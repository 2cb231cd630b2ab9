"""Client managers with one addition: disconnect every socket in a room, on every worker.

Logging out must close the sockets opened with that token wherever they are
connected. python-socketio can disconnect a sid across processes but not a
room, and a worker only knows its own sids. The request travels as a
``close_room`` message with a ``disconnect`` flag; each worker closes its
local participants (a worker without this subclass would merely close the room).
"""

from __future__ import annotations

import socketio


def _disconnect_local(manager: socketio.Manager, room: str, namespace: str) -> None:
    for sid, _eio_sid in list(manager.get_participants(namespace, room)):
        manager.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class ChatManager(socketio.Manager):
    """Single-process manager (embedded mode)."""

    def disconnect_room(self, room: str, namespace: str) -> None:
        _disconnect_local(self, room, namespace)


class ChatRedisManager(socketio.RedisManager):
    """Redis-backed manager for several workers."""

    def _publish(self, data: object) -> object:
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

    def _redis_listen_with_retries(self):
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

    def _handle_close_room(self, message: dict) -> None:
        if message.get("disconnect"):
            _disconnect_local(self, message.get("room"), message.get("namespace") or "/")
        else:
            super()._handle_close_room(message)
