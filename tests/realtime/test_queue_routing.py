"""An emit to user and token rooms reaches only the workers holding a socket in them.

chatapp/realtime/routing.py: each worker listens on a channel of its own and
keeps its host id in the Redis set of every user and token room it has a socket
in; the publish reads those sets. Checked here against real Redis with a real
ChatRedisManager (threading mode) and stand-in workers that are only Redis
keys and a subscription; tests/e2e/test_cluster_routing.py checks real workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
import redis
import socketio

from chatapp.realtime import NAMESPACE, routing
from chatapp.realtime.managers import ChatRedisManager
from tests.support.services import REDIS_URL, scratch_redis_prefix

pytestmark = pytest.mark.redis


@dataclass
class Queue:
    client: redis.Redis
    base: str
    manager: ChatRedisManager
    server: socketio.Server
    everything: redis.client.PubSub  # every channel under the base

    def stand_in(self, host: str, *rooms: str, alive: bool = True) -> None:
        """A worker that is only Redis state: it holds ``rooms``."""
        if alive:
            self.client.set(f"{self.base}:alive:{host}", "1", ex=60)
        for room in rooms:
            self.client.sadd(f"{self.base}:route:{NAMESPACE}:{room}", host)

    def holders(self, room: str) -> set[str]:
        return {h.decode() for h in self.client.smembers(f"{self.base}:route:{NAMESPACE}:{room}")}

    def published(self, seconds: float = 0.5) -> list[tuple[str, dict]]:
        """(channel suffix, decoded message) of everything published meanwhile."""
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.everything.get_message(timeout=0.05)
            if message and message["type"] == "pmessage":
                channel = message["channel"].decode().removeprefix(self.base)
                out.append((channel, orjson.loads(message["data"])))
        return out

    def local_socket(self) -> str:
        """A socket connected to this manager's worker (no client behind it)."""
        eio_sid = f"eio-{time.monotonic_ns()}"
        sid = self.manager.connect(eio_sid, NAMESPACE)
        return sid


@pytest.fixture
def queue() -> Iterator[Queue]:
    with scratch_redis_prefix() as prefix:
        base = f"{prefix}-socketio"
        manager = ChatRedisManager(REDIS_URL, channel=base)
        server = socketio.Server(async_mode="threading", client_manager=manager)
        server.manager_initialized = True
        manager.initialize()
        client = redis.Redis.from_url(REDIS_URL)
        everything = client.pubsub(ignore_subscribe_messages=True)
        everything.psubscribe(f"{base}*")
        deadline = time.monotonic() + 5
        while not client.exists(f"{base}:alive:{manager.host_id}"):
            assert time.monotonic() < deadline, "the manager never listened"
            time.sleep(0.01)
        yield Queue(client, base, manager, server, everything)
        manager.stop_keep_alive()  # else it writes its routes back after the prefix is dropped
        everything.close()
        client.close()


def test_an_emit_to_a_user_no_worker_holds_is_published_nowhere(queue):
    queue.server.emit("message:new", {"n": 1}, to=["user:1", "user:2"], namespace=NAMESPACE)
    assert queue.published() == []


def test_an_emit_reaches_each_worker_holding_a_recipient_once_and_never_the_common_channel(queue):
    queue.stand_in("w-a", "user:1", "user:2")
    queue.stand_in("w-b", "user:2")
    queue.stand_in("w-c", "user:3")

    queue.server.emit("message:new", {"n": 1}, to=["user:1", "user:2"], namespace=NAMESPACE)

    published = queue.published()
    assert sorted(channel for channel, _ in published) == [":w:w-a", ":w:w-b"]
    assert all(m["event"] == "message:new" and m["room"] == ["user:1", "user:2"] for _, m in published)


def test_a_commits_emits_travel_as_one_message_per_holding_worker(queue):
    queue.stand_in("w-a", "user:1")
    queue.stand_in("w-b", "user:2")

    with queue.manager.batch():
        queue.server.emit("message:new", {"n": 1}, to=["user:1", "user:2"], namespace=NAMESPACE)
        queue.server.emit("unread", {"n": 1}, to=["user:2"], namespace=NAMESPACE)

    published = dict(queue.published())
    assert set(published) == {":w:w-a", ":w:w-b"}
    assert [m["event"] for m in published[":w:w-b"]["messages"]] == ["message:new", "unread"]


def test_a_worker_whose_liveness_expired_gets_nothing_and_is_forgotten(queue):
    queue.stand_in("w-dead", "user:1", alive=False)
    queue.stand_in("w-live", "user:1")

    queue.server.emit("message:new", {"n": 1}, to="user:1", namespace=NAMESPACE)

    assert [channel for channel, _ in queue.published()] == [":w:w-live"]
    assert queue.holders("user:1") == {"w-live"}


def test_rooms_of_other_kinds_and_room_disconnects_keep_the_common_channel(queue):
    queue.server.emit("notice", {"n": 1}, to="conversation:7", namespace=NAMESPACE)
    queue.manager.disconnect_room("token:5", NAMESPACE)

    published = queue.published()
    assert [(channel, m["method"]) for channel, m in published] == [("", "emit"), ("", "close_room")]


def test_the_route_table_follows_the_sockets_on_this_worker(queue):
    me = queue.manager.host_id
    phone, laptop = queue.local_socket(), queue.local_socket()

    queue.manager.enter_room(phone, NAMESPACE, "user:1")
    queue.manager.enter_room(laptop, NAMESPACE, "user:1")
    queue.manager.enter_room(phone, NAMESPACE, "token:9")
    assert queue.holders("user:1") == {me} and queue.holders("token:9") == {me}

    queue.manager.disconnect(phone, NAMESPACE, ignore_queue=True)
    assert queue.holders("user:1") == {me}, "the laptop is still here"
    assert queue.holders("token:9") == set()

    queue.manager.disconnect(laptop, NAMESPACE, ignore_queue=True)
    assert queue.holders("user:1") == set()


def test_the_sender_never_receives_its_own_emit_back(queue):
    sid = queue.local_socket()
    queue.manager.enter_room(sid, NAMESPACE, "user:1")

    queue.server.emit("message:new", {"n": 1}, to="user:1", namespace=NAMESPACE)

    assert queue.published() == []


def test_a_lost_route_table_is_rebuilt_by_the_keep_alive(queue, monkeypatch):
    """Redis flushed (or restarted without persistence) under a live worker."""
    monkeypatch.setattr(routing, "ALIVE_REFRESH_SECONDS", 0.05)
    sid = queue.local_socket()
    queue.manager.enter_room(sid, NAMESPACE, "user:1")
    me = queue.manager.host_id
    queue.client.delete(f"{queue.base}:alive:{me}", f"{queue.base}:route:{NAMESPACE}:user:1")

    deadline = time.monotonic() + 10
    while queue.holders("user:1") != {me}:
        assert time.monotonic() < deadline, "the worker never re-registered its rooms"
        time.sleep(0.05)
    assert queue.client.exists(f"{queue.base}:alive:{me}")


def test_a_stopped_keep_alive_writes_nothing_back(queue, monkeypatch):
    """A server shut down in a process that lives on (Tasks.shutdown): once its keys are
    dropped (a test's scratch prefix), no route or liveness key comes back."""
    monkeypatch.setattr(routing, "ALIVE_REFRESH_SECONDS", 0.05)
    sid = queue.local_socket()
    queue.manager.enter_room(sid, NAMESPACE, "user:1")
    me = queue.manager.host_id
    alive, route = f"{queue.base}:alive:{me}", f"{queue.base}:route:{NAMESPACE}:user:1"
    queue.client.delete(alive, route)
    deadline = time.monotonic() + 10
    while not queue.client.exists(route):  # the loop runs on the short interval now
        assert time.monotonic() < deadline, "the keep-alive never ran"
        time.sleep(0.05)

    queue.manager.stop_keep_alive()
    time.sleep(0.1)  # a refresh already under way may finish
    queue.client.delete(alive, route)
    time.sleep(0.5)  # ten refresh intervals
    assert not queue.client.exists(alive) and not queue.client.exists(route)
