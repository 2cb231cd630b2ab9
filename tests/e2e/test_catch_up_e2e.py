"""Catch-up of every change, end to end: real server processes on SQLite and
PostgreSQL, real python-socketio clients over WebSocket and over long-polling.

- A device offline across every kind of change catches up with ``sync`` and
  ``versions`` (a small limit, so it pages) and ends equal to a fresh REST fetch;
  a device that stayed connected ends there too by applying its events.
- Many changes committed at once in one conversation through two server
  processes, while a device syncs in a loop: it never misses one.

The oracle is tests/support/oracle.py, the same one the service tests use.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.clients import Api, Device, register
from tests.support.oracle import DeviceState, assert_equal_states, catch_up, deliver, fresh_state
from tests.support.server import ServerProcess, migrated_database

pytestmark = pytest.mark.e2e

SYNC_LIMIT = 2
ENV = {"CHAT_RATE_MESSAGES_BURST": "100000", "CHAT_RATE_EDIT_BURST": "100000", "CHAT_RATE_MEMBERSHIP_BURST": "100000"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:
    with migrated_database(request.param, tmp_path) as url:
        yield url


def ok(response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (200, 201, 204)), (response.status_code, response.text[:300])
    return response.json() if response.content else {}


def fresh(api: Api, user_id: int) -> DeviceState:
    """A fresh fetch over REST: every conversation and the whole (short) history of each."""

    def conversations_page(cursor: str | None) -> tuple[list[dict], str | None]:
        page = ok(api.get("/conversations", params={"limit": 100, **({"cursor": cursor} if cursor else {})}))
        return page["conversations"], page["next_cursor"]

    def history_page(cid: int, after: int) -> tuple[list[dict], bool]:
        page = ok(api.get(f"/conversations/{cid}/messages", params={"after": after, "limit": 100}))
        return page["messages"], page["has_more"]

    return fresh_state(user_id, conversations_page, history_page)


def socket_sync(device: Device):
    def call(cursors: dict, versions: dict, limit: int) -> dict:
        ack = device.call("sync", {"cursors": cursors, "versions": versions, "limit": limit})
        assert ack["ok"], ack
        return ack

    return call


def every_kind_of_change(url: str, alice: dict, bob: dict, carol: dict, dave: dict, ids: dict) -> None:
    """Edits, deletes, reactions, receipts, renames, settings, members, roles, new conversations."""
    a, b, d = alice["api"], bob["api"], dave["api"]
    group, dm, room, first, second = ids["group"], ids["dm"], ids["room"], ids["first"], ids["second"]
    # A reply, then its original edited: the quote follows (the reply comes back in changes).
    ok(b.post(f"/conversations/{group}/messages", json={"body": "quoting", "client_id": "r1", "reply_to": first}))
    ok(a.call("PATCH", f"/messages/{first}", json={"body": "edited while carol was away"}))
    ok(a.call("DELETE", f"/messages/{second}"))
    ok(b.post(f"/messages/{first}/reactions", json={"emoji": "🎉"}))
    ok(a.post(f"/conversations/{group}/messages", json={"body": "new one", "client_id": "n1"}))
    ok(b.post(f"/conversations/{group}/read", json={"seq": 10**6}))
    ok(a.post(f"/conversations/{group}/delivered", json={"seq": 10**6}))
    ok(a.call("PATCH", f"/conversations/{group}", json={"name": "Renamed", "posting": "admins"}))
    ok(a.post(f"/conversations/{group}/members", json={"user_id": dave["user"]["id"]}))
    ok(a.call("PATCH", f"/conversations/{group}/members/{bob['user']['id']}", json={"role": "admin"}))
    ok(a.post(f"/conversations/{dm}/messages", json={"body": "dm while away", "client_id": "n2"}))
    ok(a.call("DELETE", f"/conversations/{room}/members/{carol['user']['id']}"))  # carol removed from the room
    ok(d.post("/conversations", json={"type": "group", "name": "Dave's", "member_ids": [carol["user"]["id"]]}))
    ok(d.post("/conversations", json={"type": "direct", "user_id": carol["user"]["id"]}))
    ok(b.call("DELETE", f"/messages/{first}/reactions/👍"))


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_device_offline_across_every_kind_of_change_catches_up_exactly(database_url, transport):
    server = ServerProcess(database_url, extra_env=ENV).start()
    opened: list[Device] = []
    try:
        alice, bob, carol, dave = (register(server.url) for _ in range(4))
        uid = {name: person["user"]["id"] for name, person in zip("abcd", (alice, bob, carol, dave), strict=True)}
        a, c = alice["api"], carol["api"]
        group = ok(a.post("/conversations", json={"type": "group", "name": "G", "member_ids": [uid["b"], uid["c"]]}))
        room = ok(a.post("/conversations", json={"type": "group", "name": "R", "member_ids": [uid["c"]]}))
        dm = ok(c.post("/conversations", json={"type": "direct", "user_id": uid["a"]}))
        ids = {"group": group["conversation"]["id"], "room": room["conversation"]["id"], "dm": dm["conversation"]["id"]}
        sent = [
            ok(a.post(f"/conversations/{ids['group']}/messages", json={"body": f"m{i}", "client_id": f"m{i}"}))
            for i in range(3)
        ]
        ids["first"], ids["second"] = sent[0]["message"]["id"], sent[1]["message"]["id"]
        ok(c.post(f"/messages/{ids['first']}/reactions", json={"emoji": "👍"}))
        ok(bob["api"].post(f"/messages/{ids['first']}/reactions", json={"emoji": "👍"}))

        offline = fresh(c, uid["c"])  # carol's phone, then it goes into the tunnel
        bobs_phone = Device(server.url, bob["token"], transport).connect()
        opened.append(bobs_phone)
        live = fresh(bob["api"], uid["b"])
        bobs_phone.clear()

        every_kind_of_change(server.url, alice, bob, carol, dave, ids)

        carols_phone = Device(server.url, carol["token"], transport).connect()
        opened.append(carols_phone)
        rounds = catch_up(offline, socket_sync(carols_phone), SYNC_LIMIT)
        assert rounds >= 2, "a small limit pages"
        now = fresh(c, uid["c"])
        assert_equal_states(offline, now, f"carol's phone after sync over {transport}")
        assert ids["room"] not in offline.conversations
        # The deleted message disappears: deleted, empty body, in what the phone holds.
        held = offline.messages[ids["group"]][2]
        assert (held["deleted"], held["body"]) == (True, "")

        # bob's phone stayed connected: its events, applied in order, lead to the same place.
        expected = fresh(bob["api"], uid["b"])
        deadline = time.monotonic() + 5
        while True:
            state = live.copy()
            deliver(state, bobs_phone.events)
            try:
                assert_equal_states(state, expected, f"bob's connected phone over {transport}")
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        for device in opened:
            device.close()
        server.stop()


def test_changes_committed_at_once_through_two_workers_are_never_missed_by_a_syncing_device(database_url):
    """Writers hit two server processes on one database while a device syncs in a loop."""
    first = ServerProcess(database_url, extra_env=ENV).start()
    second = ServerProcess(database_url, extra_env=ENV).start()
    device = None
    try:
        alice, bob, carol = (register(first.url) for _ in range(3))
        members = [bob["user"]["id"], carol["user"]["id"]]
        group = ok(alice["api"].post("/conversations", json={"type": "group", "name": "busy", "member_ids": members}))
        cid = group["conversation"]["id"]
        messages = [
            ok(alice["api"].post(f"/conversations/{cid}/messages", json={"body": f"m{i}", "client_id": f"m{i}"}))
            ["message"]["id"]
            for i in range(24)
        ]
        watcher = fresh(carol["api"], carol["user"]["id"])
        device = Device(first.url, carol["token"]).connect()
        apis = {
            "alice": [Api(first.url, alice["token"]), Api(second.url, alice["token"])],
            "bob": [Api(first.url, bob["token"]), Api(second.url, bob["token"])],
        }

        synced = threading.Condition()
        syncs = 0

        def wait_for_a_sync() -> None:
            """Halfway through, a writer waits until a whole sync ran since it started:
            the device then certainly synced while changes were being committed."""
            with synced:
                start = syncs
                synced.wait_for(lambda: syncs >= start + 2, timeout=30)

        def writer(who: str, worker: int) -> None:
            api = apis[who][worker]
            mine = messages[worker::2]
            for n, mid in enumerate(mine):
                if n == len(mine) // 2:
                    wait_for_a_sync()
                if who == "alice":
                    ok(api.call("PATCH", f"/messages/{mid}", json={"body": f"edited by worker {worker}"}))
                    if n % 3 == 0:
                        ok(api.call("DELETE", f"/messages/{mid}"), 204)
                else:
                    emoji = ["👍", "🎉"][worker]
                    response = api.post(f"/messages/{mid}/reactions", json={"emoji": emoji})
                    assert response.status_code in (200, 409), response.text  # 409: alice deleted it first
                    ok(api.post(f"/conversations/{cid}/messages", json={"body": f"b{worker}-{n}",
                                                                       "client_id": uuid.uuid4().hex}))

        threads = [threading.Thread(target=writer, args=(who, w)) for who in apis for w in (0, 1)]
        done = threading.Event()

        def syncing() -> None:
            nonlocal syncs
            while not done.is_set():
                catch_up(watcher, socket_sync(device), 5)
                with synced:
                    syncs += 1
                    synced.notify_all()

        syncer = threading.Thread(target=syncing)
        syncer.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        done.set()
        syncer.join(60)
        assert syncs >= 3, "the device synced while the changes were being committed"
        catch_up(watcher, socket_sync(device), 5)
        assert_equal_states(watcher, fresh(carol["api"], carol["user"]["id"]), "the device that synced in a loop")
    finally:
        if device is not None:
            device.close()
        first.stop()
        second.stop()
