"""Delivery under failure: the guarantees of PROTOCOL.md hold when parts break.

Each test is bounded in time and reports its figure (see conftest.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.clients import Device, register
from tests.support.redis_server import PrivateRedis
from tests.support.resilient import ResilientClient
from tests.support.server import ServerProcess, migrate
from tests.support.services import scratch_postgres_database, scratch_redis_prefix
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.e2e

FAST_PRESENCE = {
    "CHAT_PRESENCE_HEARTBEAT_SECONDS": "1",
    "CHAT_PRESENCE_TTL_SECONDS": "3",
    "CHAT_PRESENCE_OFFLINE_GRACE_SECONDS": "0.5",
}
NO_RATE_LIMIT = {"CHAT_RATE_MESSAGES_BURST": "100000", "CHAT_RATE_MESSAGES_PER_SECOND": "100000"}


def open_direct(api, other_id: int) -> int:
    response = api.post("/conversations", json={"type": "direct", "user_id": other_id})
    assert response.status_code in (200, 201), response.text
    return response.json()["conversation"]["id"]


def full_history(api, conversation_id: int) -> list[dict]:
    messages, after = [], 0
    while True:
        page = api.get(f"/conversations/{conversation_id}/messages", params={"after": after, "limit": 100}).json()
        messages += page["messages"]
        if not page["has_more"]:
            return messages
        after = page["messages"][-1]["seq"]


# ---------------------------------------------------------------- the database goes away


def test_database_outage_answers_unavailable_and_loses_nothing(report):
    """PostgreSQL unreachable: sends answer `unavailable` within 2 s, nothing
    uncommitted is broadcast, the process stays up, /healthz says degraded, and
    a retry with the same client_id after recovery creates exactly one message."""
    with scratch_postgres_database() as url:
        migrate(url)
        parts = urlsplit(url)
        proxy = TcpProxy(parts.hostname, parts.port or 5432)
        proxied = url.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{proxy.port}")
        server = ServerProcess(proxied, extra_env=NO_RATE_LIMIT).start()
        try:
            alice, bob = register(server.url), register(server.url)
            conversation_id = open_direct(alice["api"], bob["user"]["id"])
            sender = Device(server.url, alice["token"]).connect()
            listener = Device(server.url, bob["token"]).connect()

            proxy.cut()
            payload = {"conversation_id": conversation_id, "body": "sent during the outage", "client_id": "outage-1"}
            started = time.monotonic()
            ack = sender.call("message:send", payload, timeout=10)
            ack_seconds = time.monotonic() - started
            assert ack["ok"] is False and ack["error"]["code"] == "unavailable", ack
            assert ack_seconds < 2.0
            health = requests.get(server.url + "/healthz", timeout=5)
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            time.sleep(0.5)
            assert listener.of("message:new") == [], "nothing uncommitted may be broadcast"
            assert server.process.poll() is None, "the process stays up"

            proxy.restore()
            recovered_at = time.monotonic()
            while requests.get(server.url + "/healthz", timeout=5).status_code != 200:
                assert time.monotonic() - recovered_at < 15, "no recovery"
                time.sleep(0.1)
            recovery_seconds = time.monotonic() - recovered_at
            first = sender.call("message:send", payload)
            again = sender.call("message:send", payload)
            assert first["ok"] and again["ok"] and first["message"]["id"] == again["message"]["id"]
            history = full_history(alice["api"], conversation_id)
            assert [m["client_id"] for m in history] == ["outage-1"]
            listener.wait_for("message:new", lambda d: d["message"]["client_id"] == "outage-1")
            assert len(listener.of("message:new")) == 1
            report(unavailable_ack_seconds=round(ack_seconds, 3), recovery_seconds=round(recovery_seconds, 2),
                   messages_after_retry=len(history))
            sender.close()
            listener.close()
        finally:
            server.stop()
            proxy.close()


# ---------------------------------------------------------------- connect and send at once


def test_join_race_connect_and_send_immediately_1000_times(tmp_path, report):
    """1,000 times: a device connects and sends at once (before `ready`); the
    peer's sync afterwards has every message, gapless, none twice."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    migrate(url)
    server = ServerProcess(url, extra_env=NO_RATE_LIMIT).start()
    try:
        alice, bob = register(server.url), register(server.url)
        conversation_id = open_direct(alice["api"], bob["user"]["id"])
        failures: list[str] = []
        total, workers = 1000, 8

        def race(worker: int) -> None:
            for i in range(worker, total, workers):
                device = Device(server.url, alice["token"])
                try:
                    device.connect(wait_ready=False)
                    ack = device.call("message:send", {"conversation_id": conversation_id, "body": f"race {i}",
                                                       "client_id": f"race-{i}"})
                    if not ack.get("ok"):
                        failures.append(f"{i}: {ack}")
                except Exception as exc:  # recorded, and the assertion below fails
                    failures.append(f"{i}: {exc!r}")
                finally:
                    device.close()

        started = time.monotonic()
        threads = [threading.Thread(target=race, args=(w,)) for w in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        elapsed = time.monotonic() - started
        assert failures == []
        peer = Device(server.url, bob["token"]).connect()
        synced, cursor = [], 0
        while True:
            ack = peer.call("sync", {"cursors": {str(conversation_id): cursor}, "limit": 1000})
            synced += ack["messages"]
            if not ack["has_more"]:
                break
            cursor = synced[-1]["seq"]
        assert sorted(m["client_id"] for m in synced) == sorted(f"race-{i}" for i in range(total))
        assert [m["seq"] for m in synced] == list(range(1, total + 1))
        report(connect_and_send=total, seconds=round(elapsed, 1), missing_after_sync=0)
        peer.close()
    finally:
        server.stop()


# ---------------------------------------------------------------- a worker dies under load


def test_kill_worker_under_load_loses_no_acknowledged_message(report):
    """Two workers (PostgreSQL + Redis). SIGKILL one under steady load: its
    clients fail over, resend their outbox and sync; 0 acknowledged messages
    are lost, none is duplicated, every client has resynced within 10 s."""
    with scratch_postgres_database() as url, scratch_redis_prefix() as prefix:
        migrate(url)
        env = {"CHAT_REDIS_URL": "redis://127.0.0.1:6379/0", "CHAT_REDIS_PREFIX": prefix, **FAST_PRESENCE,
               **NO_RATE_LIMIT}
        doomed = ServerProcess(url, extra_env=env).start()
        survivor = ServerProcess(url, extra_env=env).start()
        clients: list[ResilientClient] = []
        try:
            users = [register(survivor.url) for _ in range(8)]
            pairs = [(users[i], users[i + 1]) for i in range(0, 8, 2)]
            conversations = [open_direct(a["api"], b["user"]["id"]) for a, b in pairs]
            for index, user in enumerate(users):
                # Even users start on the doomed worker, odd on the survivor.
                urls = [doomed.url, survivor.url] if index % 2 == 0 else [survivor.url]
                client = ResilientClient(urls, user["token"])
                client.connect()
                clients.append(client)
            for client in clients[::2]:
                client.urls = [survivor.url]  # after the crash, the load balancer sends them here

            stop = threading.Event()

            def load(client: ResilientClient, conversation_id: int) -> None:
                n = 0
                while not stop.is_set():
                    client.send(conversation_id, f"load {n}", timeout=2)
                    n += 1
                    time.sleep(0.05)

            senders = [threading.Thread(target=load, args=(clients[i], conversations[i // 2]))
                       for i in range(len(clients))]
            for thread in senders:
                thread.start()
            time.sleep(2)
            killed_at = time.monotonic()
            doomed.kill()
            time.sleep(3)
            stop.set()
            for thread in senders:
                thread.join(30)
            for client in clients:
                client.flush_outbox()
                client.sync()
            resync_seconds = max((c.synced_at or 0) - killed_at for c in clients[::2])

            lost = duplicates = 0
            for index, client in enumerate(clients):
                conversation_id = conversations[index // 2]
                history = full_history(users[index]["api"], conversation_id)
                stored_ids = [m["client_id"] for m in history]
                duplicates += len(stored_ids) - len(set(stored_ids))
                lost += len(set(m["client_id"] for m in client.acked.values()) - set(stored_ids))
                assert client.outbox == {}, "every message was eventually acknowledged"
                assert {m["id"] for m in history} <= set(client.messages), "the client's view is complete"
            assert lost == 0 and duplicates == 0
            assert resync_seconds < 10
            report(acked=sum(len(c.acked) for c in clients), lost=lost, duplicates=duplicates,
                   resync_seconds=round(resync_seconds, 2))
        finally:
            for client in clients:
                client.close()
            doomed.stop()
            survivor.stop()


# ---------------------------------------------------------------- Redis restarts


def test_redis_restart_restores_cross_worker_delivery(report):
    """A private Redis restarts under two workers: cross-worker delivery comes
    back within 10 s, and what pub/sub dropped meanwhile (at-most-once) is
    recovered by sync, prompted by the server's `resync` hint."""
    private = PrivateRedis().start()
    with scratch_postgres_database() as url:
        migrate(url)
        env = {"CHAT_REDIS_URL": private.url, "CHAT_REDIS_PREFIX": f"chaos-{uuid.uuid4().hex[:8]}", **NO_RATE_LIMIT}
        worker_a = ServerProcess(url, extra_env=env).start()
        worker_b = ServerProcess(url, extra_env=env).start()
        try:
            alice, bob = register(worker_a.url), register(worker_a.url)
            conversation_id = open_direct(alice["api"], bob["user"]["id"])
            sender = ResilientClient([worker_a.url], alice["token"])
            receiver = ResilientClient([worker_b.url], bob["token"])
            sender.connect()
            receiver.connect()
            sender.send(conversation_id, "before the restart")
            deadline = time.monotonic() + 5
            while len(receiver.live_ids) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(receiver.live_ids) == 1, "cross-worker delivery works before the restart"

            private.stop()
            during = [sender.send(conversation_id, f"during the outage {i}") for i in range(3)]
            assert all(cid in sender.acked for cid in during), "sends are persisted while Redis is down"
            private.start()
            restarted_at = time.monotonic()
            restored = None
            while time.monotonic() - restarted_at < 15:
                probe = sender.send(conversation_id, "probe")
                probe_id = sender.acked[probe]["id"]
                time.sleep(0.2)
                if probe_id in receiver.live_ids:
                    restored = time.monotonic() - restarted_at
                    break
            assert restored is not None and restored < 10, "cross-worker delivery restored within 10 s"
            assert receiver.resync_hints >= 1, "the worker asked its sockets to sync after resubscribing"
            receiver.sync()
            history = full_history(alice["api"], conversation_id)
            assert {m["id"] for m in history} <= set(receiver.messages), "sync recovered what pub/sub dropped"
            report(delivery_restored_seconds=round(restored, 2), lost_after_sync=0, messages=len(history))
            sender.close()
            receiver.close()
        finally:
            worker_a.stop()
            worker_b.stop()
            private.stop()
