"""Push notifications end to end: real server processes, a local Web Push service
over real HTTP that decrypts every push (RFC 8291) and checks its VAPID signature
(RFC 8292) with code of its own (tests/support/push_service.py), and a local FCM.

Who is pushed: an offline recipient, a connected device that stays silent (a
phone suspended in the background); not a device that acknowledged, never the
sender, not a muted conversation. What follows: the ``read`` push when the
conversation is read; 410 deletes the subscription; 429 is retried after
``Retry-After``. Across workers: two processes on one PostgreSQL database push
every message exactly once, and a worker killed in the middle of sending loses none.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.support.clients import Api, Device, register
from tests.support.push_service import Answer, LocalFcm, LocalPushService
from tests.support.server import ServerProcess, migrated_database

pytestmark = pytest.mark.e2e

PUSH_DEADLINE = 5.0  # PROTOCOL.md: within 5 s of the commit


def vapid_key() -> str:
    """A fresh VAPID private key (base64url raw scalar), so no test writes into instance/."""
    while True:
        raw = secrets.token_bytes(32)
        if 0 < int.from_bytes(raw, "big") < 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def push_env(**extra: str) -> dict[str, str]:
    return {
        "CHAT_PUSH_ALLOW_INSECURE": "1", "CHAT_PUSH_DELAY_SECONDS": "0.5", "CHAT_PUSH_POLL_SECONDS": "0.1",
        "CHAT_VAPID_PRIVATE_KEY": vapid_key(), "CHAT_RATE_MESSAGES_BURST": "100000", **extra,
    }


@pytest.fixture
def push_service() -> Iterator[LocalPushService]:
    with LocalPushService() as service:
        yield service


@pytest.fixture(params=["sqlite", "postgres"])
def server(request, tmp_path) -> Iterator[ServerProcess]:
    with migrated_database(request.param, tmp_path) as url:
        process = ServerProcess(url, extra_env=push_env()).start()
        try:
            yield process
        finally:
            process.stop()


def ok(response, *statuses: int) -> dict:
    assert response.status_code in (statuses or (200, 201, 204)), (response.status_code, response.text[:300])
    return response.json() if response.content else {}


def person(url: str, name: str) -> dict:
    user = register(url, f"{name}{uuid.uuid4().hex[:6]}")
    return {**user, "api": Api(url, user["token"])}


def subscribe(someone: dict, service: LocalPushService, name: str = "phone") -> str:
    subscription = service.new_subscription()
    answer = ok(someone["api"].post("/push/subscriptions", json={"type": "webpush", **subscription,
                                                                 "device_name": name}), 201)
    assert answer["subscription"]["type"] == "webpush"
    return subscription["endpoint"]


def dm(a: dict, b: dict) -> int:
    answer = ok(a["api"].post("/conversations", json={"type": "direct", "user_id": b["user"]["id"]}))
    return answer["conversation"]["id"]


def send(someone: dict, cid: int, body: str) -> dict:
    answer = someone["api"].post(f"/conversations/{cid}/messages", json={"body": body, "client_id": str(uuid.uuid4())})
    return ok(answer, 201)["message"]


def pushes_of(service: LocalPushService, endpoint: str, kind: str = "message") -> list:
    return [p for p in service.received(endpoint) if p.payload_json.get("type") == kind]


def wait_pushes(service: LocalPushService, endpoint: str, count: int, kind: str = "message",
                timeout: float = PUSH_DEADLINE) -> list:
    service.wait_for(lambda: len(pushes_of(service, endpoint, kind)) >= count, timeout)
    return pushes_of(service, endpoint, kind)


def test_the_config_gives_the_vapid_key_the_pushes_are_signed_with(server, push_service):
    ana = person(server.url, "ana")
    key = ok(ana["api"].get("/push/config"))["webpush"]["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4


def test_an_offline_recipient_is_pushed_within_seconds_and_the_sender_never(server, push_service):
    ana, bob = person(server.url, "ana"), person(server.url, "bob")
    ana_phone, bob_phone = subscribe(ana, push_service), subscribe(bob, push_service)
    cid = dm(ana, bob)
    started = time.time()  # Received.time is wall-clock
    message = send(ana, cid, "are you there? " + "x" * 300)
    [push] = wait_pushes(push_service, bob_phone, 1)
    assert push.time - started < PUSH_DEADLINE
    assert push.payload_json == {
        "type": "message", "conversation_id": cid, "message_id": message["id"], "seq": message["seq"],
        "sender_id": ana["user"]["id"], "title": ana["user"]["display_name"],
        "body": ("are you there? " + "x" * 300)[:199] + "…", "mentioned": False, "total_unread": 1,
    }
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.headers["urgency"] == "high" and push.headers["topic"] == f"c{cid}"
    assert int(push.headers["ttl"]) > 0
    assert push.claims["aud"] == push_service.origin and push.claims["exp"] > time.time()
    time.sleep(1.0)
    assert push_service.received(ana_phone) == []  # the sender's own devices: never


@pytest.mark.serial  # the ack must beat a 0.5 s push delay: alone, after the parallel phase
def test_a_device_that_acknowledges_holds_the_push_back_and_a_silent_one_does_not(server, push_service):
    ana, bob, cy = person(server.url, "ana"), person(server.url, "bob"), person(server.url, "cy")
    bob_phone, cy_phone = subscribe(bob, push_service), subscribe(cy, push_service)
    group = ok(ana["api"].post("/conversations", json={"type": "group", "name": "Trip",
                                                      "member_ids": [bob["user"]["id"], cy["user"]["id"]]}))
    cid = group["conversation"]["id"]
    listening = Device(server.url, bob["token"]).connect()  # acknowledges, as the shipped client does
    suspended = Device(server.url, cy["token"]).connect()  # connected, but its app is asleep: no ack
    try:
        message = send(ana, cid, "dinner at 8?")
        listening.wait_for("message:new")
        assert listening.call("delivered", {"conversation_id": cid, "seq": message["seq"]})["ok"]
        [push] = wait_pushes(push_service, cy_phone, 1)
        assert push.payload_json["title"] == f"{ana['user']['display_name']} in Trip"
        time.sleep(1.5)
        assert push_service.received(bob_phone) == []
    finally:
        listening.close()
        suspended.close()


def test_a_muted_conversation_stays_quiet_and_mentions_break_through_a_mentions_level(server, push_service):
    ana, bob = person(server.url, "ana"), person(server.url, "bob")
    bob_phone = subscribe(bob, push_service)
    cid = dm(ana, bob)
    until = "9999-01-01T00:00:00.000Z"
    muted = ok(bob["api"].call("PATCH", f"/conversations/{cid}/settings", json={"muted_until": until}))
    assert muted["conversation"]["muted_until"] == until
    send(ana, cid, "you will not hear this")
    ok(bob["api"].call("PATCH", f"/conversations/{cid}/settings",
                       json={"muted_until": None, "notifications": "mentions"}))
    send(ana, cid, "nor this")
    mention = send(ana, cid, f"but this, @{bob['user']['username']}")
    [push] = wait_pushes(push_service, bob_phone, 1)
    assert push.payload_json["message_id"] == mention["id"] and push.payload_json["mentioned"] is True
    time.sleep(1.0)
    assert len(pushes_of(push_service, bob_phone)) == 1


def test_reading_sends_the_read_push_that_dismisses_the_notification(server, push_service):
    ana, bob = person(server.url, "ana"), person(server.url, "bob")
    bob_phone, bob_laptop = subscribe(bob, push_service, "phone"), subscribe(bob, push_service, "laptop")
    cid = dm(ana, bob)
    message = send(ana, cid, "hello")
    wait_pushes(push_service, bob_phone, 1)
    wait_pushes(push_service, bob_laptop, 1)
    ok(bob["api"].post(f"/conversations/{cid}/read", json={"seq": message["seq"]}))
    for endpoint in (bob_phone, bob_laptop):
        [read] = wait_pushes(push_service, endpoint, 1, kind="read")
        assert read.payload_json == {"type": "read", "conversation_id": cid, "seq": message["seq"], "total_unread": 0}
        assert read.headers["topic"] == f"c{cid}"


@pytest.mark.parametrize("async_mode", ["gevent", "threading"])
def test_every_async_mode_pushes(async_mode, tmp_path, push_service):
    """The push loop and its concurrent sends in the other supported async modes
    (the tests above run eventlet, the default)."""
    with migrated_database("sqlite", tmp_path) as url:
        process = ServerProcess(url, async_mode=async_mode, extra_env=push_env()).start()
        try:
            ana, bob = person(process.url, "ana"), person(process.url, "bob")
            phones = [subscribe(bob, push_service, f"device{n}") for n in range(3)]
            send(ana, dm(ana, bob), f"hello from {async_mode}")
            for phone in phones:
                [push] = wait_pushes(push_service, phone, 1)
                assert push.payload_json["body"] == f"hello from {async_mode}"
        finally:
            process.stop()


def test_a_gone_subscription_is_deleted(server, push_service):
    ana, bob = person(server.url, "ana"), person(server.url, "bob")
    bob_phone = subscribe(bob, push_service)
    push_service.unsubscribe(bob_phone)  # 410 from now on
    send(ana, dm(ana, bob), "hello")
    deadline = time.monotonic() + PUSH_DEADLINE
    while ok(bob["api"].get("/push/subscriptions"))["subscriptions"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ok(bob["api"].get("/push/subscriptions"))["subscriptions"] == []


def test_a_busy_push_service_is_retried_after_retry_after(server, push_service):
    ana, bob = person(server.url, "ana"), person(server.url, "bob")
    bob_phone = subscribe(bob, push_service)
    push_service.script(bob_phone, (429, {"Retry-After": "1"}), (503, {}))
    started = time.time()
    send(ana, dm(ana, bob), "hello")
    [push] = wait_pushes(push_service, bob_phone, 1, timeout=15)
    assert push.time - started >= 1.0  # not before Retry-After
    assert push.payload_json["body"] == "hello"


def test_an_app_with_an_fcm_token_gets_a_data_message(tmp_path, push_service):
    with LocalFcm() as fcm, migrated_database("sqlite", tmp_path) as url:
        env = push_env(CHAT_FCM_CREDENTIALS=str(fcm.service_account(tmp_path)), CHAT_FCM_SEND_URL=fcm.send_url,
                       CHAT_FCM_TOKEN_URL=fcm.token_url)
        process = ServerProcess(url, extra_env=env).start()
        try:
            ana, bob = person(process.url, "ana"), person(process.url, "bob")
            token = "fcm-" + secrets.token_urlsafe(40)
            ok(bob["api"].post("/push/subscriptions", json={"type": "fcm", "token": token}), 201)
            cid = dm(ana, bob)
            for n in range(3):
                send(ana, cid, f"hello {n}")
            fcm.wait_for(lambda: len(fcm.received(token)) >= 3, PUSH_DEADLINE + 3)
            messages = [r.message for r in fcm.received(token)]
            assert {m["data"]["body"] for m in messages} == {"hello 0", "hello 1", "hello 2"}
            assert all(m["android"]["priority"] == "high" and m["android"]["collapse_key"] == f"c{cid}"
                       for m in messages)
            assert all(m["apns"]["headers"]["apns-collapse-id"] == f"c{cid}" for m in messages)
            assert fcm.token_fetches == 1  # one OAuth2 token, reused
        finally:
            process.stop()


# ---------------------------------------------------------------- several workers


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with migrated_database("postgres", None) as url:
        yield url


def test_two_workers_push_every_message_exactly_once(postgres_url, push_service):
    with ExitStack() as stack:
        workers = [ServerProcess(postgres_url, extra_env=push_env(CHAT_WORKER_ID=f"w{n}")).start() for n in (1, 2)]
        for worker in workers:
            stack.callback(worker.stop)
        ana = person(workers[0].url, "ana")
        people = [person(workers[n % 2].url, f"p{n}") for n in range(6)]
        phones = {p["user"]["id"]: subscribe(p, push_service) for p in people}
        # Both workers' loops are running (each started on its first request).
        for worker in workers:
            ok(Api(worker.url, ana["token"]).get("/me"))
        sent = []
        for n, someone in enumerate(people * 5):
            api_of_worker = Api(workers[n % 2].url, ana["token"])
            cid = ok(api_of_worker.post("/conversations", json={"type": "direct", "user_id": someone["user"]["id"]}))
            message = api_of_worker.post(f"/conversations/{cid['conversation']['id']}/messages",
                                         json={"body": f"m{n}", "client_id": str(uuid.uuid4())})
            sent.append((someone["user"]["id"], ok(message, 201)["message"]["id"]))
        push_service.wait_for(lambda: len(push_service.received()) >= len(sent), 15)
        time.sleep(1.5)  # a duplicate would arrive by now
        got = sorted((uid, p.payload_json["message_id"]) for uid, endpoint in phones.items()
                     for p in pushes_of(push_service, endpoint))
        assert got == sorted(sent)


def test_a_worker_killed_while_sending_loses_no_push(postgres_url, push_service):
    env = {"CHAT_PUSH_LEASE_SECONDS": "3", "CHAT_PUSH_TIMEOUT": "30"}
    doomed = ServerProcess(postgres_url, extra_env=push_env(CHAT_WORKER_ID="w1", **env)).start()
    try:
        ana, bob = person(doomed.url, "ana"), person(doomed.url, "bob")
        bob_phone = subscribe(bob, push_service)
        push_service.script(bob_phone, Answer(201, delay=60))  # the first push hangs in flight
        cid = dm(ana, bob)
        first = send(ana, cid, "one")
        push_service.wait_for(lambda: push_service.connections > 0, PUSH_DEADLINE)
        time.sleep(0.5)
        second = send(ana, cid, "two")
        time.sleep(1.0)  # claimed too, or still queued: either way in the database only
        doomed.kill()
    finally:
        doomed.stop()
    heir = ServerProcess(postgres_url, extra_env=push_env(CHAT_WORKER_ID="w2", **env)).start()
    try:
        ok(Api(heir.url, ana["token"]).get("/me"))  # starts its push loop
        # The hung first push counts as received, so two pushes may be it and the
        # heir's repeat of it: wait for both messages, not for a number of pushes.
        both = {first["id"], second["id"]}
        push_service.wait_for(
            lambda: {p.payload_json["message_id"] for p in pushes_of(push_service, bob_phone)} >= both, 15
        )
        assert {p.payload_json["message_id"] for p in pushes_of(push_service, bob_phone)} == both
    finally:
        heir.stop()
