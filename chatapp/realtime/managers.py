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
from collections.abc import Iterable, Iterator
from typing import Any, cast

import socketio
from engineio import packet as eio_packet
from prometheus_client import Counter

from ..contract.events import Resync
from ..contract.objects import as_dict
from . import NAMESPACE, internals, routing

QUEUE_MESSAGES_RECEIVED = Counter(
    "chat_queue_messages_received_total",
    "Redis messages this worker received and decoded, by channel (common: every worker's; worker: its own)",
    ["channel"],
)


def _disconnect_local(manager: socketio.Manager, room: str, namespace: str) -> None:
    for sid, _eio_sid in list(manager.get_participants(namespace, room)):
        manager.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class ChatManager(internals.SidRoomIndex, socketio.Manager):
    """Single-process manager (embedded mode)."""

    def disconnect_room(self, room: str, namespace: str) -> None:
        _disconnect_local(self, room, namespace)

    def emit_each(self, event: str, payloads: Iterable[tuple[str, Any]], namespace: str) -> None:
        """``event`` to each room with that room's own payload, as ``emit`` to each
        would send it, in order. One call instead of one ``Server.emit`` per room
        (its logging, argument handling and packet object): a 100-member room
        message's 99 ``unread`` badges. A room with no socket here costs no encoding."""
        if namespace not in self.rooms:
            return
        encode = self.server.packet_class.event_text
        send = self.server.eio.send_packet
        for room, payload in payloads:
            participants = list(self.get_participants(namespace, room))
            if not participants:
                continue
            pkt = eio_packet.Packet(eio_packet.MESSAGE, encode(namespace, event, payload))
            for _sid, eio_sid in participants:
                send(eio_sid, pkt)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Nothing to batch without a queue (see ``ChatRedisManager.batch``)."""
        yield

    def stop_keep_alive(self) -> None:
        """Nothing kept alive without a queue (see ``ChatRedisManager.stop_keep_alive``)."""


class ChatRedisManager(internals.SidRoomIndex, internals.HookedRedisManager):
    """Redis-backed manager for several workers.

    Emits to user and token rooms go only to the workers holding a socket in
    them (the route table, chatapp/realtime/routing.py, which says why no event
    after ``ready`` is lost); the rest travels on the common channel.
    ``batch()`` turns the emits of one commit (a DM's ``message:new`` and
    ``unread``; a 100-member room's 99 ``unread``) into one Redis round trip
    and one message per receiving worker, instead of one per emit. Receivers
    split it back. The overrides of RedisManager's private methods are in
    chatapp/realtime/internals.py (``HookedRedisManager``); this class
    implements their hooks.
    """

    # How long a connect waits for this worker's first subscription before going on without it.
    LISTENING_WAIT_SECONDS = 5.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Per green thread under eventlet/gevent (threading.local is patched), per thread otherwise.
        self._batch = threading.local()
        self.routes = routing.RouteTable(self.channel, self.host_id)
        # The (namespace, room)s this worker has added to the route table; changed under _route_lock only.
        self._routed: set[tuple[str, str]] = set()
        self._route_lock = threading.Lock()
        self._listening = threading.Event()
        self._stopped = threading.Event()
        self._received = {
            self.channel: QUEUE_MESSAGES_RECEIVED.labels("common"),
            self.routes.channel: QUEUE_MESSAGES_RECEIVED.labels("worker"),
        }

    def initialize(self) -> None:
        super().initialize()
        if not self.write_only:
            self.server.start_background_task(self._keep_alive)

    def listened_channels(self) -> list[str]:
        return [self.channel, self.routes.channel]

    def message_received(self, channel: str) -> None:
        self._received[channel].inc()

    def concerns_this_worker(self, message: object) -> bool:
        rooms = routing.routed_rooms(message)
        if rooms is None:
            return True
        local = self.rooms.get(cast(dict[str, Any], message).get("namespace") or "/", {})
        return any(room in local for room in rooms)

    # ------------------------------------------------------------ the route table

    def enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        """On the caller's thread (a connect): until this worker listens on its
        channel, a route to it would lead nowhere, so wait for that first."""
        if routing.is_routed(room) and not self._listening.is_set():
            if not self._listening.wait(self.LISTENING_WAIT_SECONDS):
                self.queue_logger().warning("message queue not subscribed yet: %s may miss events until resync", room)
        super().enter_room(sid, namespace, room, eio_sid=eio_sid)

    def basic_enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if routing.is_routed(room):
            self._update_route(namespace, room)

    def basic_leave_room(self, sid: str, namespace: str, room: str) -> None:
        super().basic_leave_room(sid, namespace, room)
        if routing.is_routed(room):
            self._update_route(namespace, room)

    def _update_route(self, namespace: str, room: str) -> None:
        """Make Redis say what this worker holds now. Decided and sent under one
        lock, waiting for the reply: a leave and a re-enter cannot cross in flight."""
        key = (namespace, room)
        with self._route_lock:
            held = room in self.rooms.get(namespace, {})
            if held == (key in self._routed):
                return
            try:
                if held:
                    self.routes.add(self.redis_client(), namespace, room)
                    self._routed.add(key)
                else:
                    self._routed.discard(key)
                    self.routes.remove(self.redis_client(), namespace, room)
            except Exception as exc:
                # Redis is away: the listener's restore re-registers every local room and asks for a sync.
                self.connected = False
                self.queue_logger().warning("route table update for %s failed: %s", room, exc)

    def _local_routed_rooms(self) -> list[tuple[str, str]]:
        return [
            (namespace, room)
            for namespace, rooms in list(self.rooms.items())
            for room in list(rooms)
            if routing.is_routed(room)
        ]

    def _register_everything(self) -> bool:
        """This worker's liveness key and every local route; True when a socket was already here."""
        with self._route_lock:
            rooms = self._local_routed_rooms()
            self.routes.register_all(self.redis_client(), rooms)
            self._routed = set(rooms)
        return bool(rooms)

    def subscription_established(self) -> None:
        try:
            had_sockets = self._register_everything()
        except Exception as exc:
            self.queue_logger().error("route table registration failed: %s", exc)
            had_sockets = True
        self._listening.set()
        if had_sockets:  # sockets accepted before the queue listened may have missed events
            self.resync_local_sockets()

    def _keep_alive(self) -> None:
        """Refresh the liveness key; when it was gone (Redis flushed or restarted,
        this worker stalled past its expiry), routes may have been pruned: re-add
        them and ask this worker's sockets to sync."""
        while True:
            self.server.sleep(routing.ALIVE_REFRESH_SECONDS)
            if self._stopped.is_set():
                return
            if not self._listening.is_set():
                continue
            try:
                if not self.routes.refresh_alive(self.redis_client()):
                    self._register_everything()
                    self.queue_logger().warning("message queue route table was lost: re-registered")
                    self.resync_local_sockets()
            except Exception as exc:
                self.connected = False
                self.queue_logger().warning("message queue keep-alive failed: %s", exc)

    def stop_keep_alive(self) -> None:
        """No more refreshes nor re-registrations (``Tasks.shutdown``): a server shut
        down inside a process that lives on (tests) would otherwise find its
        liveness key gone and write its routes back into Redis, with no expiry."""
        self._stopped.set()

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
        rooms = routing.routed_rooms(data)
        if rooms is not None:
            return self._publish_routed([data], [(cast(dict[str, Any], data).get("namespace") or "/", rooms)])
        # python-socketio logs and swallows a failed publish (it returns None
        # after its retry); count it, so that a broken queue shows in /metrics.
        result = super().publish(data)
        if result is None:
            from ..metrics import PUBLISH_FAILURES

            PUBLISH_FAILURES.inc()
        return result

    def publish_many(self, messages: list[object]) -> None:
        """The routed emits in one message to the workers holding any of their
        rooms; the others on the common channel."""
        routed: list[object] = []
        addressed: list[tuple[str, list[str]]] = []
        common: list[object] = []
        for message in messages:
            rooms = routing.routed_rooms(message)
            if rooms is None:
                common.append(message)
            else:
                routed.append(message)
                addressed.append((cast(dict[str, Any], message).get("namespace") or "/", rooms))
        if routed:
            self._publish_routed(routed, addressed)
        super().publish_many(common)

    def _publish_routed(self, messages: list[object], addressed: list[tuple[str, list[str]]]) -> object:
        keys = list(dict.fromkeys(self.routes.route_key(ns, room) for ns, rooms in addressed for room in rooms))
        data = messages[0] if len(messages) == 1 else {"method": "batch", "messages": messages, "host_id": self.host_id}
        payload = self.json.dumps(data)
        for attempt in (1, 2):
            try:
                return self.routes.publish(self.redis_client(), keys, payload)
            except Exception as exc:
                self.connected = False  # reconnect on the next attempt
                if attempt == 2:
                    self.queue_logger().error("Cannot publish to redis... giving up: %s", exc)
        from ..metrics import PUBLISH_FAILURES

        PUBLISH_FAILURES.inc()
        return None

    def disconnect_room(self, room: str, namespace: str) -> None:
        self.disconnect_local(room, namespace)
        self.publish_disconnect_room(room, namespace)

    def emit_each(self, event: str, payloads: Iterable[tuple[str, Any]], namespace: str) -> None:
        """One emit per room, each through the queue as any emit goes (inside
        ``batch()``, still one Redis round trip for the commit); the room as a
        list, as the publisher's emits name it (the same queue messages as before)."""
        for room, payload in payloads:
            self.emit(event, payload, namespace=namespace, room=[room])

    def disconnect_local(self, room: str, namespace: str) -> None:
        _disconnect_local(self, room, namespace)

    def subscription_restored(self) -> None:
        """Events published while the subscription to Redis was down (Redis
        restarted, network blip) are lost: pub/sub is at-most-once. Re-add this
        worker's routes (a restarted Redis has none), then tell its sockets to
        ``sync`` (contract extension ``resync``); the database has everything."""
        self.queue_logger().warning("message queue subscription restored: asking clients to sync")
        try:
            self._register_everything()
        except Exception as exc:
            self.connected = False
            self.queue_logger().error("route table registration failed: %s", exc)
        self.resync_local_sockets()

    def resync_local_sockets(self) -> None:
        resync = Resync(reason="message_queue_reconnected")
        self.server.emit(resync.NAME, as_dict(resync), namespace=NAMESPACE, ignore_queue=True)
