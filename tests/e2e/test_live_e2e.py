"""Live conversation features end to end: real server process (eventlet), real
python-socketio clients over WebSocket and over HTTP long-polling.

Timings are shortened through the environment (grace 1 s, typing throttle
1 s) so the suite stays quick; ``test_default_offline_grace_is_within_the_contract``
runs a server with the defaults and proves the 5 s bound.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import Api, Device, register
from tests.support.server import ServerProcess, migrate

pytestmark = pytest.mark.e2e

GRACE = 1.0
THROTTLE = 1.0
EXPIRES_MS = 1500
LIVE_ENV = {
    "CHAT_PRESENCE_OFFLINE_GRACE_SECONDS": str(GRACE),
    "CHAT_TYPING_THROTTLE_SECONDS": str(THROTTLE),
    "CHAT_TYPING_EXPIRES_MS": str(EXPIRES_MS),
}
# Long enough for an event emitted by the server to reach a client that is connected.
SETTLE = 0.4


@pytest.fixture(scope="module")
def database_file(tmp_path_factory) -> str:
    path: Path = tmp_path_factory.mktemp("live") / "chat.db"
    url = f"sqlite:///{path}"
    migrate(url)
    return url


@pytest.fixture(scope="module")
def server(database_file: str) -> Iterator[ServerProcess]:
    proc = ServerProcess(database_file, extra_env=LIVE_ENV).start()
    yield proc
    proc.stop()


@pytest.fixture(params=["websocket", "polling"])
def transport(request) -> str:
    return request.param


@pytest.fixture
def devices() -> Iterator[list[Device]]:
    opened: list[Device] = []
    yield opened
    for device in opened:
        device.close()


@pytest.fixture
def world(server, transport, devices):
    """Fresh users each test; ``world.device(user)`` opens a device on the test's transport."""

    class World:
        url = server.url

        def user(self) -> dict:
            return register(server.url)

        def device(self, user: dict, connect: bool = True) -> Device:
            device = Device(server.url, user["token"], transport=transport)
            devices.append(device)
            return device.connect() if connect else device

    return World()


def cid_of(response) -> int:
    assert response.status_code in (200, 201), response.text
    return response.json()["conversation"]["id"]


def direct(a: dict, b: dict) -> int:
    return cid_of(a["api"].post("/conversations", json={"type": "direct", "user_id": b["user"]["id"]}))


def group(owner: dict, members: list[dict], **extra) -> int:
    body = {"type": "group", "name": f"g-{uuid.uuid4().hex[:6]}", "member_ids": [m["user"]["id"] for m in members]}
    return cid_of(owner["api"].post("/conversations", json={**body, **extra}))


def send(device: Device, cid: int, body: str = "hi") -> dict:
    ack = device.call("message:send", {"conversation_id": cid, "body": body, "client_id": uuid.uuid4().hex})
    assert ack["ok"], ack
    return ack["message"]


def flush(device: Device) -> None:
    """A round trip on this socket: events the server queued for it before are now received
    (one socket's packets, events and acks alike, arrive in order)."""
    assert device.call("sync", {"cursors": {}}) == {"ok": True, "messages": [], "has_more": False}


def presence_of(device: Device, user: dict) -> list[bool]:
    return [p["online"] for p in device.of("presence") if p["user_id"] == user["user"]["id"]]


def rest_user(viewer: dict, user: dict) -> dict:
    response = viewer["api"].get(f"/users/{user['user']['id']}")
    assert response.status_code == 200
    return response.json()["user"]


# ------------------------------------------------------------------ presence


@pytest.mark.serial  # presence grace / typing throttle windows: alone, after the parallel phase
def test_presence_with_two_devices(world):
    alice, bob = world.user(), world.user()
    direct(alice, bob)
    watcher = world.device(bob)
    phone = world.device(alice)
    watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"] and p["online"])
    laptop = world.device(alice)

    phone.close()
    time.sleep(GRACE + 0.8)  # well past the grace: the laptop keeps alice online
    assert presence_of(watcher, alice) == [True]
    assert rest_user(bob, alice)["online"] is True

    closed_at = time.monotonic()
    laptop.close()
    offline = watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"] and not p["online"], 5)
    waited = time.monotonic() - closed_at
    assert GRACE - 0.2 <= waited <= GRACE + 2, waited  # debounced, then reported
    assert offline["last_seen_at"] is not None
    assert presence_of(watcher, alice) == [True, False]
    shown = rest_user(bob, alice)
    assert (shown["online"], shown["last_seen_at"]) == (False, offline["last_seen_at"])
    # Back online: the event carries the last last_seen_at.
    world.device(alice)
    back = watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"] and p["online"]
                            and p["last_seen_at"] is not None)
    assert back["last_seen_at"] == offline["last_seen_at"]


@pytest.mark.serial  # presence grace / typing throttle windows: alone, after the parallel phase
def test_a_quick_reconnect_does_not_flap(world):
    alice, bob = world.user(), world.user()
    direct(alice, bob)
    watcher = world.device(bob)
    first = world.device(alice)
    watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"])
    first.close()
    world.device(alice)  # back at once (a network blip)
    time.sleep(GRACE + 1.0)
    assert presence_of(watcher, alice) == [True]  # no offline, no second online
    assert rest_user(bob, alice)["online"] is True


# ------------------------------------------------------------------ typing


@pytest.mark.serial  # presence grace / typing throttle windows: alone, after the parallel phase
def test_typing_is_relayed_to_others_with_expiry_and_throttled(world):
    alice, bob, carol, spy = world.user(), world.user(), world.user(), world.user()
    cid = group(alice, [bob, carol])
    typist, other_device = world.device(alice), world.device(alice)
    bob_phone, carol_phone, spy_phone = world.device(bob), world.device(carol), world.device(spy)

    for _ in range(4):  # keystrokes
        assert typist.call("typing", {"conversation_id": cid, "typing": True}) == {"ok": True}
    got = bob_phone.wait_for("typing")
    assert got == {"conversation_id": cid, "user_id": alice["user"]["id"], "typing": True, "expires_in_ms": EXPIRES_MS}
    carol_phone.wait_for("typing")
    time.sleep(SETTLE)
    assert len(bob_phone.of("typing")) == 1  # throttled: one start per window
    time.sleep(THROTTLE)
    typist.call("typing", {"conversation_id": cid, "typing": True})
    typist.call("typing", {"conversation_id": cid, "typing": False})
    bob_phone.wait_for("typing", lambda t: t["typing"] is False)
    assert [t["typing"] for t in bob_phone.of("typing")] == [True, True, False]
    # Not to the typist's own devices, nor to anyone outside the conversation.
    assert typist.of("typing") == other_device.of("typing") == spy_phone.of("typing") == []


def test_typing_payload_errors(world):
    alice, bob = world.user(), world.user()
    cid = direct(alice, bob)
    phone = world.device(alice)
    for payload in ({"conversation_id": cid, "typing": "yes"}, {"conversation_id": cid}, {"typing": True}, [1]):
        ack = phone.call("typing", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "validation_error", (payload, ack)
    assert phone.call("typing", {"conversation_id": 10**9, "typing": True})["error"]["code"] == "not_found"


# ------------------------------------------------------------------ receipts and badges


def test_receipts_and_counts_across_two_devices_of_one_user(world):
    alice, bob = world.user(), world.user()
    cid = direct(alice, bob)
    sender = world.device(alice)
    phone, laptop = world.device(bob), world.device(bob)
    for n in range(3):
        send(sender, cid, f"m{n}")
    for device in (phone, laptop):
        flush(device)
        assert [(u["unread_count"], u["total_unread"]) for u in device.of("unread")] == [(1, 1), (2, 2), (3, 3)]

    ack = phone.call("read", {"conversation_id": cid, "seq": 2})
    assert ack == {"ok": True, "last_read_seq": 2, "unread_count": 1}
    # created (1), three messages (2-4), this read (5): the receipt carries its version.
    expected = {"conversation_id": cid, "user_id": bob["user"]["id"], "seq": 2, "version": 5}
    for device in (phone, laptop):  # both of bob's devices update their badge
        flush(device)
        assert device.of("unread")[-1] == {
            "conversation_id": cid, "unread_count": 1, "total_unread": 1, "unread_mentions": 0,
        }
        assert device.of("read") == [expected]
    receipt = sender.wait_for("read")
    assert receipt == expected

    assert laptop.call("read", {"conversation_id": cid, "seq": 1})["last_read_seq"] == 2  # never backwards
    assert laptop.call("read", {"conversation_id": cid, "seq": -1})["error"]["code"] == "validation_error"
    assert laptop.call("read", {"conversation_id": cid, "seq": 999}) == {"ok": True, "last_read_seq": 3,
                                                                        "unread_count": 0}
    [listed] = bob["api"].get("/conversations").json()["conversations"]
    assert (listed["last_read_seq"], listed["unread_count"]) == (3, 0)
    flush(phone)
    assert phone.of("unread")[-1] == {
        "conversation_id": cid, "unread_count": 0, "total_unread": 0, "unread_mentions": 0,
    }

    # Sending marks the sender read; the REST view says what the events said.
    send(phone, cid, "reply")
    [listed] = bob["api"].get("/conversations").json()["conversations"]
    assert (listed["last_read_seq"], listed["unread_count"]) == (4, 0)


def test_delivered_receipts(world):
    alice, bob = world.user(), world.user()
    cid = direct(alice, bob)
    sender, receiver = world.device(alice), world.device(bob)
    message = send(sender, cid)
    receiver.wait_for("message:new")
    assert receiver.call("delivered", {"conversation_id": cid, "seq": message["seq"]}) == {
        "ok": True, "delivered_seq": 1,
    }
    got = sender.wait_for("delivered")
    assert got == {"conversation_id": cid, "user_id": bob["user"]["id"], "seq": 1, "version": message["version"] + 1}
    receipts = alice["api"].get(f"/conversations/{cid}").json()["conversation"]["receipts"]
    assert receipts[str(bob["user"]["id"])] == {"last_read_seq": 0, "delivered_seq": 1}


def test_events_replayed_on_stale_state_equal_a_fresh_fetch(world):
    """Zulip's verify_action: bob's laptop starts from ``ready`` and applies
    only the events it hears; its state must equal GET /conversations."""
    alice, bob, carol = world.user(), world.user(), world.user()
    g = group(alice, [bob, carol])
    d = direct(carol, bob)
    laptop = world.device(bob)
    ready = laptop.of("ready")[0]
    state = {c["id"]: {k: c[k] for k in ("last_seq", "last_read_seq", "unread_count")} for c in ready["conversations"]}
    total = ready["total_unread"]
    a, c, b = world.device(alice), world.device(carol), world.device(bob)

    m1 = send(a, g)
    send(c, g)
    send(c, d)
    m4 = send(a, g, "to be deleted")
    assert b.call("read", {"conversation_id": g, "seq": 2})["ok"]
    assert a.call("message:delete", {"message_id": m4["id"]}) == {"ok": True}
    send(b, d, "ok")
    send(c, d)
    assert a.call("message:edit", {"message_id": m1["id"], "body": "edited"})["ok"]
    assert a.call("message:delete", {"message_id": m1["id"]}) == {"ok": True}  # read already
    final = send(a, g, "last")
    flush(laptop)
    assert laptop.of("message:new")[-1]["message"]["id"] == final["id"]

    me = bob["user"]["id"]
    for name, p in laptop.events:
        if name == "message:new":
            entry = state[p["message"]["conversation_id"]]
            entry["last_seq"] = max(entry["last_seq"], p["message"]["seq"])
            if p["message"]["sender_id"] == me:
                entry["last_read_seq"] = p["message"]["seq"]
        elif name == "unread":
            state[p["conversation_id"]]["unread_count"] = p["unread_count"]
            total = p["total_unread"]
        elif name == "read" and p["user_id"] == me:
            state[p["conversation_id"]]["last_read_seq"] = p["seq"]

    fresh = bob["api"].get("/conversations").json()["conversations"]
    assert state == {c["id"]: {k: c[k] for k in ("last_seq", "last_read_seq", "unread_count")} for c in fresh}
    assert total == sum(c["unread_count"] for c in fresh)
    assert state[g] == {"last_seq": 4, "last_read_seq": 2, "unread_count": 1}


# ------------------------------------------------------------------ groups


def test_group_fan_out_membership_and_rename(world):
    owner, member, newcomer = world.user(), world.user(), world.user()
    owner_phone, owner_laptop = world.device(owner), world.device(owner)
    member_phone, newcomer_phone = world.device(member), world.device(newcomer)
    cid = group(owner, [member])
    for device in (owner_phone, owner_laptop, member_phone):  # the creator's devices included
        assert device.wait_for("conversation:new")["conversation"]["id"] == cid
    assert newcomer_phone.of("conversation:new") == []

    message = send(member_phone, cid, "hello all")
    for device in (owner_phone, owner_laptop, member_phone):
        assert device.wait_for("message:new")["message"]["id"] == message["id"]

    added = owner["api"].post(f"/conversations/{cid}/members", json={"user_id": newcomer["user"]["id"]})
    assert added.status_code == 200
    joined = newcomer_phone.wait_for("conversation:new")["conversation"]
    assert (joined["id"], joined["last_read_seq"], joined["unread_count"]) == (cid, 1, 0)
    for device in (owner_phone, member_phone, newcomer_phone):
        assert device.wait_for("member:joined")["user"]["id"] == newcomer["user"]["id"]

    renamed = owner["api"].call("PATCH", f"/conversations/{cid}", json={"name": "Renamed"})
    assert renamed.status_code == 200 and renamed.json()["conversation"]["name"] == "Renamed"
    for device in (owner_laptop, member_phone, newcomer_phone):
        device.wait_for("conversation:updated", lambda c: c["conversation"]["name"] == "Renamed")
    denied = member["api"].call("PATCH", f"/conversations/{cid}", json={"name": "Mine"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"

    gone = owner["api"].call("DELETE", f"/conversations/{cid}/members/{member['user']['id']}")
    assert gone.status_code == 204
    left = member_phone.wait_for("member:left")  # the removed member hears it too
    assert left["user"]["id"] == member["user"]["id"]
    owner_phone.wait_for("member:left")
    member_phone.clear()
    send(owner_phone, cid, "after")
    newcomer_phone.wait_for("message:new", lambda m: m["message"]["body"] == "after")
    time.sleep(SETTLE)
    assert member_phone.events == []
    assert member["api"].get(f"/conversations/{cid}").status_code == 404


def test_leaving_hands_ownership_over(world):
    owner, member = world.user(), world.user()
    cid = group(owner, [member])
    member_phone = world.device(member)
    response = owner["api"].call("DELETE", f"/conversations/{cid}/members/{owner['user']['id']}")
    assert response.status_code == 204
    updated = member_phone.wait_for("conversation:updated")["conversation"]
    assert updated["roles"] == {str(member["user"]["id"]): "owner"}


def test_announcement_room(world):
    owner, reader = world.user(), world.user()
    cid = group(owner, [reader], posting="admins")
    owner_phone, reader_phone = world.device(owner), world.device(reader)
    ack = reader_phone.call("message:send", {"conversation_id": cid, "body": "me?", "client_id": "r1"})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
    news = send(owner_phone, cid, "news")
    assert reader_phone.wait_for("message:new")["message"]["id"] == news["id"]
    assert [m["body"] for m in reader["api"].get(f"/conversations/{cid}/messages").json()["messages"]] == ["news"]


def test_public_room_listing_and_joining(world):
    owner, visitor = world.user(), world.user()
    name = f"Lobby {uuid.uuid4().hex[:6]}"
    cid = group(owner, [], name=name, visibility="public")
    owner_phone = world.device(owner)
    send(owner_phone, cid, "old news")
    rooms = visitor["api"].get("/rooms", params={"q": name.upper()}).json()["rooms"]
    assert [(r["id"], r["member_count"], r["online_count"]) for r in rooms] == [(cid, 1, 1)]
    visitor_phone = world.device(visitor)
    ack = visitor_phone.call("message:send", {"conversation_id": cid, "body": "hi", "client_id": "v1"})
    assert ack["error"]["code"] == "forbidden"
    joined = visitor["api"].post(f"/conversations/{cid}/join")
    assert joined.status_code == 200
    assert (joined.json()["conversation"]["last_read_seq"], joined.json()["conversation"]["unread_count"]) == (1, 0)
    owner_phone.wait_for("member:joined", lambda j: j["user"]["id"] == visitor["user"]["id"])
    visitor_phone.wait_for("conversation:new")
    rooms = visitor["api"].get("/rooms", params={"q": name}).json()["rooms"]
    assert (rooms[0]["member_count"], rooms[0]["online_count"]) == (2, 2)


def test_edits_deletes_and_reactions_reach_every_member(world):
    alice, bob = world.user(), world.user()
    cid = direct(alice, bob)
    a, b = world.device(alice), world.device(bob)
    message = send(a, cid)
    react = b.call("message:react", {"message_id": message["id"], "emoji": "🎉"})
    assert react["ok"] and react["message"]["reactions"] == {"🎉": [bob["user"]["id"]]}
    a.wait_for("message:updated", lambda m: m["message"]["reactions"])
    unreact = b.call("message:unreact", {"message_id": message["id"], "emoji": "🎉"})
    assert unreact["message"]["reactions"] == {}
    a.wait_for("message:updated", lambda m: m["message"]["reactions"] == {} and m["message"]["edited_at"] is None)
    assert a.call("message:edit", {"message_id": message["id"], "body": "edited"})["message"]["body"] == "edited"
    b.wait_for("message:updated", lambda m: m["message"]["body"] == "edited")
    denied = b.call("message:delete", {"message_id": message["id"]})
    assert denied["error"]["code"] == "forbidden"
    assert a.call("message:delete", {"message_id": message["id"]}) == {"ok": True}
    deleted = b.wait_for("message:deleted")
    # send, react, unreact, edit, delete: the delete is the fourth change after the send.
    expected = {"conversation_id": cid, "message_id": message["id"], "seq": message["seq"],
                "version": message["version"] + 4}
    assert deleted == expected


# ------------------------------------------------------------------ authorization


def test_a_non_member_can_do_nothing_and_hears_nothing(world):
    owner, member, spy = world.user(), world.user(), world.user()
    private = group(owner, [member])
    public = group(owner, [member], visibility="public")
    owner_phone, member_phone, spy_phone = world.device(owner), world.device(member), world.device(spy)
    in_private, in_public = send(owner_phone, private), send(owner_phone, public)

    attempts = {
        "message:send": [{"conversation_id": c, "body": "x", "client_id": uuid.uuid4().hex} for c in (private, public)],
        "typing": [{"conversation_id": c, "typing": True} for c in (private, public)],
        "read": [{"conversation_id": c, "seq": 1} for c in (private, public)],
        "delivered": [{"conversation_id": c, "seq": 1} for c in (private, public)],
        "message:edit": [{"message_id": m["id"], "body": "x"} for m in (in_private, in_public)],
        "message:delete": [{"message_id": m["id"]} for m in (in_private, in_public)],
        "message:react": [{"message_id": m["id"], "emoji": "👀"} for m in (in_private, in_public)],
        "message:unreact": [{"message_id": m["id"], "emoji": "👀"} for m in (in_private, in_public)],
    }
    for event, (private_payload, public_payload) in attempts.items():
        refused = spy_phone.call(event, private_payload)
        assert refused == {"ok": False, "error": refused["error"]} and refused["error"]["code"] == "not_found", event
        visitor = spy_phone.call(event, public_payload)
        assert visitor["ok"] is False and visitor["error"]["code"] == "forbidden", (event, visitor)
    spy_api = spy["api"]
    assert spy_api.post(f"/conversations/{private}/members", json={"user_id": spy["user"]["id"]}).status_code == 404
    assert spy_api.post(f"/conversations/{private}/join").status_code == 404
    assert spy_api.call("PATCH", f"/conversations/{private}", json={"name": "mine"}).status_code == 404
    assert spy_api.get(f"/conversations/{private}/messages").status_code == 404

    # Activity in both conversations: the spy hears none of it.
    for cid in (private, public):
        owner_phone.call("typing", {"conversation_id": cid, "typing": True})
        send(member_phone, cid, "secret")
        member_phone.call("read", {"conversation_id": cid, "seq": 2})
    owner["api"].call("PATCH", f"/conversations/{private}", json={"name": "renamed"})
    done = send(owner_phone, private, "last")
    member_phone.wait_for("message:new", lambda m: m["message"]["id"] == done["id"])
    time.sleep(SETTLE)
    assert [name for name, _ in spy_phone.events] == ["ready"]
    # And nothing the spy tried changed anything.
    history = owner["api"].get(f"/conversations/{private}/messages").json()["messages"]
    assert [(m["body"], m["reactions"], m["deleted"]) for m in history][0] == ("hi", {}, False)


# ------------------------------------------------------------------ the default grace


@pytest.mark.serial  # presence grace / typing throttle windows: alone, after the parallel phase
def test_default_offline_grace_is_within_the_contract(database_file, monkeypatch):
    """No timing overrides: the offline event must arrive within 5 s of the last device leaving."""
    for name in LIVE_ENV:
        monkeypatch.delenv(name, raising=False)
    proc = ServerProcess(database_file).start()
    devices: list[Device] = []
    try:
        alice, bob = register(proc.url), register(proc.url)
        direct(alice, bob)
        watcher = Device(proc.url, bob["token"]).connect()
        leaver = Device(proc.url, alice["token"]).connect()
        devices += [watcher, leaver]
        watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"])
        closed_at = time.monotonic()
        leaver.close()
        watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"] and not p["online"], timeout=6)
        waited = time.monotonic() - closed_at
        assert 1.0 <= waited <= 5.0, f"offline reported after {waited:.2f}s"
    finally:
        for device in devices:
            device.close()
        proc.stop()


# ------------------------------------------------------------------ two workers


@pytest.mark.serial  # presence grace / typing throttle windows: alone, after the parallel phase
@pytest.mark.redis
def test_presence_across_two_workers_sharing_redis(database_file):
    """Two worker processes share presence through Redis: a user stays online
    while a device remains on either worker, and goes offline once, after the last."""
    from tests.support.services import REDIS_URL, scratch_redis_prefix

    with scratch_redis_prefix() as prefix:
        env = {**LIVE_ENV, "CHAT_REDIS_URL": REDIS_URL, "CHAT_REDIS_PREFIX": prefix}
        workers = [ServerProcess(database_file, extra_env=env).start() for _ in range(2)]
        devices: list[Device] = []
        try:
            alice, bob = register(workers[0].url), register(workers[0].url)
            direct(alice, bob)
            watcher = Device(workers[1].url, bob["token"]).connect()
            on_first = Device(workers[0].url, alice["token"]).connect()
            on_second = Device(workers[1].url, alice["token"], transport="polling").connect()
            devices += [watcher, on_first, on_second]
            watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"])

            on_first.close()
            time.sleep(GRACE + 0.8)
            assert presence_of(watcher, alice) == [True]  # the device on the other worker counts
            assert rest_user(bob, alice)["online"] is True
            assert Api(workers[0].url, bob["token"]).get(f"/users/{alice['user']['id']}").json()["user"]["online"]

            on_second.close()
            watcher.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"] and not p["online"], 5)
            time.sleep(SETTLE)
            assert presence_of(watcher, alice) == [True, False]
        finally:
            for device in devices:
                device.close()
            for worker in workers:
                worker.stop()
