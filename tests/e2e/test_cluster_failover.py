"""kill -9 a worker behind the load balancer.

Its clients reconnect through HAProxy (which redispatches them to the
survivor although their cookie names the dead worker), ``sync`` returns
exactly the messages sent while they were away, and presence heals: users
who came back stay online without a flap, users who did not go offline once
their dead worker's Redis entries expire (TTL + one sweep).
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.support.clients import Device
from tests.support.cluster import logs, running_cluster

# serial: presence must heal within a bound; alone, after the parallel phase (docs/testing.md).
pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres, pytest.mark.serial]

# Test timings (production defaults: heartbeat 5 s, TTL 20 s, so <= 25 s).
HEARTBEAT, TTL = 0.5, 3.0


def register(base: str) -> dict:
    response = requests.post(
        base + "/api/v1/auth/register", json={"username": f"u{uuid.uuid4().hex[:10]}", "password": "correct horse"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()


def pinned(base: str, token: str, transport: str, worker: str) -> Device:
    """A client through the load balancer whose HAProxy cookie names ``worker``
    (what a browser holds after its first request landed there)."""
    session = requests.Session()
    session.cookies.set("CHATSRV", worker, domain="127.0.0.1", path="/")
    return Device(base, token, transport, http_session=session)


def send(device: Device, conversation_id: int, body: str) -> dict:
    payload = {"conversation_id": conversation_id, "body": body, "client_id": str(uuid.uuid4())}
    ack = device.call("message:send", payload)
    assert ack["ok"], ack
    return ack["message"]


def test_kill_9_worker_clients_fail_over_sync_and_presence_heals():
    extra = {
        "CHAT_PRESENCE_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "CHAT_PRESENCE_TTL_SECONDS": str(TTL),
        "CHAT_PRESENCE_OFFLINE_GRACE_SECONDS": "0.5",
    }
    with running_cluster(workers=2, extra_env=extra) as cluster:
        lb = cluster.url
        erin, frank, grace, henry = (register(lb) for _ in range(4))
        created = requests.post(
            lb + "/api/v1/conversations",
            json={"type": "group", "name": "failover", "member_ids": [u["user"]["id"] for u in (frank, grace, henry)]},
            headers={"Authorization": f"Bearer {erin['token']}"}, timeout=10,
        )  # fmt: skip
        group_id = created.json()["conversation"]["id"]

        erin_w2 = pinned(lb, erin["token"], "websocket", "w2").connect()
        frank_w1 = pinned(lb, frank["token"], "websocket", "w1").connect()
        grace_w1 = pinned(lb, grace["token"], "polling", "w1").connect()
        henry_w1 = pinned(lb, henry["token"], "websocket", "w1").connect()
        on_w1 = (frank_w1, grace_w1, henry_w1)
        devices = [erin_w2, *on_w1]
        try:
            w1_metrics = requests.get(cluster.nodes[0].url + "/metrics", timeout=5).text
            assert "chat_connected_sockets 3.0" in w1_metrics, "the cookie did not pin the clients to w1"
            first = send(erin_w2, group_id, "before the crash")
            for device in on_w1:
                device.wait_for("message:new", lambda m: m["message"]["id"] == first["id"])
            for user in (frank, grace, henry):
                erin_w2.wait_for("presence", lambda p, u=user: p["user_id"] == u["user"]["id"] and p["online"])
            time.sleep(2 * HEARTBEAT)  # their entries have been refreshed at least once

            cluster.kill_worker(0)
            killed_at = time.monotonic()
            for device in on_w1:
                assert device.disconnected.wait(10), "a client of the killed worker did not notice"
            noticed_after = time.monotonic() - killed_at

            missed = [send(erin_w2, group_id, f"while you were away {i}") for i in range(3)]

            # frank and grace come back through the load balancer with their old cookie.
            frank_again = pinned(lb, frank["token"], "websocket", "w1")
            grace_again = pinned(lb, grace["token"], "polling", "w1")
            devices += [frank_again, grace_again]
            for device in (frank_again, grace_again):
                started = time.monotonic()
                device.connect()
                print(f"reconnect {device.transport}: {time.monotonic() - started:.2f}s")
                ack = device.call("sync", {"cursors": {str(group_id): first["seq"]}})
                assert ack["ok"], ack
                assert [m["id"] for m in ack["messages"]] == [m["id"] for m in missed]
                assert [m["seq"] for m in ack["messages"]] == [2, 3, 4]
                assert ack["has_more"] is False
            reconnected_after = time.monotonic() - killed_at
            assert grace_again.client.eio.http.cookies.get("CHATSRV") == "w2", "not redispatched to the survivor"
            w2_metrics = requests.get(cluster.nodes[1].url + "/metrics", timeout=5).text
            assert "chat_connected_sockets 3.0" in w2_metrics, w2_metrics[-2000:]

            # Live delivery works again for the reconnected clients.
            after = send(frank_again, group_id, "back")
            for device in (erin_w2, grace_again):
                device.wait_for("message:new", lambda m: m["message"]["id"] == after["id"])

            # henry never came back: offline once his dead entry expires.
            offline = erin_w2.wait_for(
                "presence", lambda p: p["user_id"] == henry["user"]["id"] and not p["online"], timeout=30
            )
            healed_after = time.monotonic() - killed_at
            assert offline["last_seen_at"] is not None
            assert healed_after < TTL + 4 * HEARTBEAT + 2, f"presence healed after {healed_after:.1f}s"
            print(
                f"\nfailover: clients noticed {noticed_after:.2f}s, reconnect+sync {reconnected_after:.2f}s, "
                f"presence healed {healed_after:.2f}s after kill -9"
            )

            # frank and grace reconnected before their entries expired: never reported offline.
            time.sleep(HEARTBEAT * 2)
            flapped = [
                p for p in erin_w2.of("presence")
                if p["user_id"] in (frank["user"]["id"], grace["user"]["id"]) and not p["online"]
            ]  # fmt: skip
            assert flapped == []
            auth = {"Authorization": f"Bearer {erin['token']}"}
            users = requests.get(lb + "/api/v1/users", params={"q": "u"}, headers=auth, timeout=10).json()["users"]
            online = {u["id"]: u["online"] for u in users}
            assert online[frank["user"]["id"]] and online[grace["user"]["id"]]
            assert online[henry["user"]["id"]] is False
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs(cluster)}") from None
        finally:
            for device in devices:
                device.close()
