"""Two workers behind HAProxy, one Redis message queue, one PostgreSQL database.

Every test drives real processes with real Socket.IO clients, either pinned to
one worker (its own port) or through the load balancer, over WebSocket and
over HTTP long-polling alone. The contract under test: "every event reaches
every intended device whichever process it is connected to".
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable

import pytest
import requests

from tests.support.clients import Api, Device
from tests.support.cluster import logs, running_cluster
from tests.support.server import PYTHON, ROOT
from tests.support.services import require_binary

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

TRANSPORTS = ["websocket", "polling"]


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(workers=2) as running:
        yield running


@pytest.fixture
def devices(cluster):
    """Factory of connected devices; all are closed after the test.

    ``where`` is a worker index (its own port) or "lb" (through HAProxy);
    ``sticky`` pins an LB client to a worker by presetting HAProxy's cookie.
    """
    opened: list[Device] = []

    def connect(user: dict, where: int | str = "lb", transport: str = "websocket", sticky: str | None = None):
        base = cluster.url if where == "lb" else cluster.nodes[where].url
        session = requests.Session()
        if sticky:
            session.cookies.set("CHATSRV", sticky, domain="127.0.0.1", path="/")
        device = Device(base, user["token"], transport, http_session=session)
        opened.append(device)
        try:
            return device.connect()
        except Exception as exc:
            raise AssertionError(f"connect to {base} over {transport} failed: {exc}\n{logs(cluster)}") from exc

    yield connect
    for device in opened:
        device.close()


def register(cluster, name: str | None = None) -> dict:
    username = name or f"u{uuid.uuid4().hex[:10]}"
    response = requests.post(
        cluster.url + "/api/v1/auth/register", json={"username": username, "password": "correct horse"}, timeout=10
    )
    assert response.status_code == 201, response.text
    body = response.json()
    body["api"] = Api(cluster.url, body["token"])
    return body


def direct(a: dict, b: dict) -> dict:
    response = a["api"].post("/conversations", json={"type": "direct", "user_id": b["user"]["id"]})
    assert response.status_code in (200, 201), response.text
    return response.json()["conversation"]


def send(device: Device, conversation_id: int, body: str) -> dict:
    payload = {"conversation_id": conversation_id, "body": body, "client_id": str(uuid.uuid4())}
    ack = device.call("message:send", payload)
    assert ack["ok"], ack
    return ack["message"]


def new_message(message_id: int):
    return lambda data: data["message"]["id"] == message_id


def metric(url: str, name: str, labels: str = "") -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    pattern = rf"^{re.escape(name)}{re.escape('{' + labels + '}') if labels else ''} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def settled(read: Callable[[], float], tries: int = 50, pause: float = 0.2) -> float:
    """A reading once it has stopped moving between two reads ``pause`` apart (at most ``tries``)."""
    value = read()
    for _ in range(tries):
        time.sleep(pause)
        again = read()
        if again == value:
            return value
        value = again
    return value


def settled_metric(url: str, name: str) -> float:
    """A gauge once it has stopped moving (disconnects are handled asynchronously)."""
    return settled(lambda: metric(url, name))


# ---------------------------------------------------------------- messaging


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_direct_message_crosses_workers(cluster, devices, transport):
    alice, bob = register(cluster), register(cluster)
    conversation = direct(alice, bob)
    alice_w1 = devices(alice, 0, transport)
    bob_w2 = devices(bob, 1, transport)
    bob_w1 = devices(bob, 0, transport)  # the recipient's other device, on the sender's worker

    message = send(alice_w1, conversation["id"], "hello from worker 1")

    for device in (bob_w2, bob_w1, alice_w1):  # the sending socket too (contract)
        got = device.wait_for("message:new", new_message(message["id"]))
        assert got["message"]["body"] == "hello from worker 1"
        assert got["message"]["seq"] == 1
    reply = send(bob_w2, conversation["id"], "and back from worker 2")
    assert alice_w1.wait_for("message:new", new_message(reply["id"]))["message"]["seq"] == 2
    # Exactly one copy per device: the queue must not echo an event twice.
    time.sleep(0.3)
    assert [m["message"]["id"] for m in bob_w1.of("message:new")] == [message["id"], reply["id"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_group_fan_out_reaches_members_on_every_worker_and_through_the_lb(cluster, devices, transport):
    owner, *members = [register(cluster) for _ in range(4)]
    placements = [0, 1, "lb", "lb"]
    sticky = [None, None, "w1", "w2"]
    everyone = [owner, *members]
    connected = [devices(u, where, transport, pin) for u, where, pin in zip(everyone, placements, sticky, strict=True)]

    created = owner["api"].post(
        "/conversations", json={"type": "group", "name": "fan-out", "member_ids": [m["user"]["id"] for m in members]}
    )
    assert created.status_code == 201, created.text
    group_id = created.json()["conversation"]["id"]
    for device in connected:
        device.wait_for("conversation:new", lambda data: data["conversation"]["id"] == group_id)

    sent = [send(connected[i], group_id, f"from member {i}") for i in (1, 2, 3)]
    for device in connected:
        for message in sent:
            device.wait_for("message:new", new_message(message["id"]))
        seqs = sorted(m["message"]["seq"] for m in device.of("message:new"))
        assert seqs == [1, 2, 3], seqs


def test_polling_clients_stay_sticky_through_the_load_balancer(cluster, devices):
    """Long-polling needs every request of a session on one worker: a
    non-sticky balancer answers "Invalid session" and the client drops."""
    users = [register(cluster) for _ in range(4)]
    owner = users[0]
    group = owner["api"].post(
        "/conversations", json={"type": "group", "name": "sticky", "member_ids": [u["user"]["id"] for u in users[1:]]}
    ).json()["conversation"]
    connected = [devices(user, "lb", "polling") for user in users]
    placed = {device.client.eio.http.cookies.get("CHATSRV") for device in connected}
    # leastconn + the inserted cookie: clients spread over both workers, each stays put.
    assert placed == {"w1", "w2"}, placed

    sent = []
    for round_ in range(5):
        for index, device in enumerate(connected):
            sent.append(send(device, group["id"], f"round {round_} from {index}"))
    ids = {m["id"] for m in sent}
    for device in connected:
        deadline = time.monotonic() + 10
        while {m["message"]["id"] for m in device.of("message:new")} != ids and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {m["message"]["id"] for m in device.of("message:new")} == ids
        assert device.client.connected and not device.disconnected.is_set()


# ---------------------------------------------------------------- presence, typing, receipts


def test_presence_stays_online_while_any_worker_holds_a_device(cluster, devices):
    carol, dave = register(cluster), register(cluster)
    direct(carol, dave)
    watcher = devices(dave, 0)
    carol_w1 = devices(carol, 0)
    watcher.wait_for("presence", lambda p: p["user_id"] == carol["user"]["id"] and p["online"])
    carol_w2 = devices(carol, 1, "polling")

    carol_w1.close()
    time.sleep(1.5)  # past the offline grace (0.5 s) and a few heartbeats/sweeps
    offline = [p for p in watcher.of("presence") if p["user_id"] == carol["user"]["id"] and not p["online"]]
    assert offline == [], "a device on the other worker is still connected"
    users = dave["api"].get("/users", params={"q": carol["user"]["username"]}).json()["users"]
    assert users[0]["online"] is True

    carol_w2.close()
    event = watcher.wait_for("presence", lambda p: p["user_id"] == carol["user"]["id"] and not p["online"], timeout=5)
    assert event["last_seen_at"] is not None
    users = dave["api"].get("/users", params={"q": carol["user"]["username"]}).json()["users"]
    assert users[0]["online"] is False


def test_typing_and_read_receipts_cross_workers(cluster, devices):
    alice, bob = register(cluster), register(cluster)
    conversation = direct(alice, bob)
    alice_w1 = devices(alice, 0)
    bob_w2 = devices(bob, 1, "polling")
    bob_w1 = devices(bob, 0)

    assert alice_w1.call("typing", {"conversation_id": conversation["id"], "typing": True})["ok"]
    for device in (bob_w2, bob_w1):
        got = device.wait_for("typing", lambda t: t["user_id"] == alice["user"]["id"] and t["typing"])
        assert got["conversation_id"] == conversation["id"] and got["expires_in_ms"] > 0

    message = send(alice_w1, conversation["id"], "read me")
    bob_w2.wait_for("message:new", new_message(message["id"]))
    bob_w1.wait_for("unread", lambda u: u["conversation_id"] == conversation["id"] and u["unread_count"] == 1)

    ack = bob_w2.call("read", {"conversation_id": conversation["id"], "seq": message["seq"]})
    assert ack == {"ok": True, "last_read_seq": 1, "unread_count": 0}
    receipt = alice_w1.wait_for("read", lambda r: r["user_id"] == bob["user"]["id"])
    # The receipt is the conversation's next change after the message.
    expected = {"conversation_id": conversation["id"], "user_id": bob["user"]["id"], "seq": 1,
                "version": message["version"] + 1}
    assert receipt == expected
    # The reader's other device, on the other worker, learns its count changed.
    bob_w1.wait_for("unread", lambda u: u["conversation_id"] == conversation["id"] and u["unread_count"] == 0)
    # The typist's own device never gets its own typing event.
    assert [t for t in alice_w1.of("typing") if t["user_id"] == alice["user"]["id"]] == []


def test_logout_on_one_worker_disconnects_that_token_on_the_other(cluster, devices):
    bob = register(cluster)
    login = requests.post(
        cluster.nodes[0].url + "/api/v1/auth/login",
        json={"username": bob["user"]["username"], "password": "correct horse", "device_name": "phone"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    phone = {"token": login.json()["token"]}
    phone_w2 = devices(phone, 1)
    laptop_w2 = devices(bob, 1)  # another token of the same user

    logout = requests.post(
        cluster.nodes[0].url + "/api/v1/auth/logout", headers={"Authorization": f"Bearer {phone['token']}"}, timeout=10
    )
    assert logout.status_code == 204

    assert phone_w2.disconnected.wait(5), "the logged-out token's socket on worker 2 stayed open"
    time.sleep(0.3)
    assert laptop_w2.client.connected and not laptop_w2.disconnected.is_set()
    with pytest.raises(Exception):  # noqa: B017 (python-socketio raises ConnectionError)
        Device(cluster.nodes[1].url, phone["token"]).connect()


# ---------------------------------------------------------------- operations


def test_announce_command_reaches_clients_on_every_worker(cluster, devices):
    system, bob, carol = register(cluster, f"sys{uuid.uuid4().hex[:6]}"), register(cluster), register(cluster)
    group = system["api"].post(
        "/conversations",
        json={"type": "group", "name": "news", "member_ids": [bob["user"]["id"], carol["user"]["id"]]},
    ).json()["conversation"]
    bob_w1 = devices(bob, 0)
    carol_w2 = devices(carol, 1, "polling")

    env = {
        **os.environ,
        "CHAT_DATABASE_URL": cluster.database_url,
        "CHAT_REDIS_URL": cluster.redis_url,
        "CHAT_REDIS_PREFIX": cluster.redis_prefix,
        "CHAT_ASYNC_MODE": "eventlet",
    }
    done = subprocess.run(
        [PYTHON, "-m", "flask", "--app", "wsgi", "chat", "announce", "--conversation", str(group["id"]),
         "--as", system["user"]["username"], "maintenance at 22:00"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sent message" in done.stdout

    for device in (bob_w1, carol_w2):
        got = device.wait_for("message:new", lambda m: m["message"]["body"] == "maintenance at 22:00", timeout=10)
        assert got["message"]["sender_id"] == system["user"]["id"]
    history = bob["api"].get(f"/conversations/{group['id']}/messages").json()["messages"]
    assert [m["body"] for m in history] == ["maintenance at 22:00"]  # persisted, exactly once


def test_healthz_and_metrics_per_worker(cluster, devices):
    pids = set()
    for worker in cluster.nodes:
        health = requests.get(worker.url + "/healthz", timeout=5)
        assert health.status_code == 200
        body = health.json()
        assert body["db"] == "ok" and body["message_queue"] == "ok" and body["async_mode"] == "eventlet"
        pids.add(body["worker"])
    assert len(pids) == 2

    w1, w2 = (worker.url for worker in cluster.nodes)
    before = {
        "sockets": settled_metric(w1, "chat_connected_sockets"),  # earlier tests' sockets may still be closing
        "in": metric(w1, "chat_events_in_total", 'event="message:send"'),
        "out": metric(w1, "chat_events_out_total", 'event="message:new"'),
        "sends": metric(w1, "chat_send_seconds_count"),
        "out_w2": metric(w2, "chat_events_out_total", 'event="message:new"'),
    }
    alice, bob = register(cluster), register(cluster)
    conversation = direct(alice, bob)
    alice_w1 = devices(alice, 0)
    devices(alice, 0, "polling")
    bob_w2 = devices(bob, 1)
    assert settled_metric(w1, "chat_connected_sockets") == before["sockets"] + 2

    for index in range(3):
        message = send(alice_w1, conversation["id"], f"count me {index}")
    bob_w2.wait_for("message:new", new_message(message["id"]))
    assert metric(w1, "chat_events_in_total", 'event="message:send"') == before["in"] + 3
    assert metric(w1, "chat_send_seconds_count") == before["sends"] + 3
    # Counted where published (worker 1), not where delivered.
    assert metric(w1, "chat_events_out_total", 'event="message:new"') == before["out"] + 3
    assert metric(w2, "chat_events_out_total", 'event="message:new"') == before["out_w2"]
    assert metric(w1, "chat_publish_failures_total") == 0


# ---------------------------------------------------------------- the shipped production HAProxy config


def shipped_haproxy_config(cluster, tmp_path) -> tuple[str, dict[str, int], str]:
    """deploy/haproxy.cfg as shipped, with only machine specifics replaced:
    ports, certificate path, worker addresses; no syslog socket or user switch."""
    from tests.support.server import free_port

    binary = require_binary("openssl")
    cert, key, pem = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "chat.pem"
    subprocess.run(
        [binary, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem.write_text(cert.read_text() + key.read_text())
    ports = {"http": free_port(), "https": free_port(), "stats": free_port()}
    text = (ROOT / "deploy" / "haproxy.cfg").read_text()
    replacements = {
        "    bind :80\n": f"    bind 127.0.0.1:{ports['http']}\n",
        "bind :443 ssl crt /etc/haproxy/certs/chat.pem": f"bind 127.0.0.1:{ports['https']} ssl crt {pem}",
        "bind 127.0.0.1:8404": f"bind 127.0.0.1:{ports['stats']}",
        "127.0.0.1:8001": f"127.0.0.1:{cluster.nodes[0].port}",
        "127.0.0.1:8002": f"127.0.0.1:{cluster.nodes[1].port}",
        "    log /dev/log local0\n": "",
        "    user haproxy\n": "",
        "    group haproxy\n": "",
        "    maxconn 50000\n": "    maxconn 2000\n",  # this sandbox's open-files limit
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/haproxy.cfg changed: {old!r} not found; update this test"
        text = text.replace(old, new)
    return text, ports, str(cert)


def test_shipped_haproxy_config_terminates_tls_and_stays_sticky(cluster, tmp_path):
    config_text, ports, ca = shipped_haproxy_config(cluster, tmp_path)
    config = tmp_path / "haproxy.cfg"
    config.write_text(config_text)
    haproxy = require_binary("haproxy")
    check = subprocess.run([haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    haproxy_log = tmp_path / "haproxy.log"
    with haproxy_log.open("wb") as log_file:
        process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log_file, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{ports['https']}"
    opened: list[Device] = []
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = requests.get(base + "/healthz", verify=ca, timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "HAProxy with TLS did not come up"
                time.sleep(0.1)
        assert health.status_code == 200
        assert health.headers["Strict-Transport-Security"].startswith("max-age=")
        sticky = health.cookies.get("CHATSRV")
        assert sticky in ("w1", "w2")
        assert "secure" in health.headers["Set-Cookie"].lower()
        plain = requests.get(f"http://127.0.0.1:{ports['http']}/healthz", allow_redirects=False, timeout=5)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

        def user() -> dict:
            name = f"u{uuid.uuid4().hex[:10]}"
            credentials = {"username": name, "password": "correct horse"}
            response = requests.post(base + "/api/v1/auth/register", json=credentials, verify=ca, timeout=10)
            assert response.status_code == 201, response.text
            return response.json()

        alice, bob = user(), user()
        headers = {"Authorization": f"Bearer {alice['token']}"}
        conversation = requests.post(
            base + "/api/v1/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}, headers=headers,
            verify=ca, timeout=10,
        ).json()["conversation"]  # fmt: skip
        for transport in TRANSPORTS:
            pair = []
            for who in (alice, bob):
                session = requests.Session()
                session.verify = ca
                session.trust_env = False  # else REQUESTS_CA_BUNDLE would override ``verify``
                device = Device(base, who["token"], transport, http_session=session)
                opened.append(device)
                try:
                    pair.append(device.connect())
                except Exception as exc:
                    raise AssertionError(
                        f"TLS connect over {transport} failed: {exc!r}\n--- haproxy\n"
                        f"{haproxy_log.read_text()[-3000:]}\n{logs(cluster)}"
                    ) from exc
            message = send(pair[0], conversation["id"], f"over TLS by {transport}")
            pair[1].wait_for("message:new", new_message(message["id"]))
            if transport == "polling":  # every poll of the session went through the same cookie
                assert pair[1].client.eio.http.cookies.get("CHATSRV") in ("w1", "w2")
    finally:
        for device in opened:
            device.close()
        process.terminate()
        process.wait(10)
