"""Stickiness without cookies: every Socket.IO client chats through the load balancers.

Two workers, and in front of them HAProxy (deploy/cluster.py's generated
config, what ``make cluster`` runs) and nginx (deploy/cluster.py's renderer,
the one deploy/nginx.conf comes from). Clients keep no cookie: Node's
socket.io-client with its default options (tests/e2e/js/device.mjs), over
long-polling alone, the default polling-then-upgrade and WebSocket alone, and
python-socketio with a cookie jar that refuses every cookie. Each session id
names its worker (``w1.<random>``), so a test knows where each client is and
puts the two users of a conversation on different workers.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from chatapp.realtime.sessionids import worker_of
from tests.support.clients import Device
from tests.support.cluster import deploy_cluster, logs, running_cluster
from tests.support.nginx import MAIN_CONFIG, running_nginx
from tests.support.server import ROOT
from tests.support.services import require_binary

from .conftest import JS_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

BALANCERS = ["haproxy", "nginx"]
NODE_TRANSPORTS = ["polling", "default", "websocket"]


@pytest.fixture(scope="module")
def cluster():
    # Every test registers its users from 127.0.0.1: lift the per-address signup limit.
    with running_cluster(workers=2, extra_env={"CHAT_RATE_REGISTER_BURST": "1000"}) as running:
        yield running


@pytest.fixture(scope="module")
def nginx(cluster):
    with running_nginx(cluster) as running:
        yield running


@pytest.fixture(params=BALANCERS)
def balancer(request, cluster) -> str:
    """The load balancer's base URL: HAProxy's, or nginx's in front of the same workers."""
    return cluster.url if request.param == "haproxy" else request.getfixturevalue("nginx").url


class NodeDevice:
    """One Node socket.io-client (default options), driven over stdin/stdout."""

    def __init__(self, node: str, base_url: str, token: str, transport: str, env: dict | None = None) -> None:
        self.transport = transport
        self.process = subprocess.Popen(
            [node, "device.mjs", base_url, token, transport], cwd=JS_DIR, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._refs = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.process.stdout:  # type: ignore[union-attr]
            try:
                line = json.loads(raw)
            except ValueError:  # a crash's stack trace
                line = {"type": "output", "text": raw.rstrip()}
            with self._lock:
                self.lines.append(line)

    def seen(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [line for line in self.lines if line["type"] == kind]

    def wait(self, kind: str, predicate: Callable[[dict], bool] = lambda _: True, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.seen(kind):
                if predicate(line):
                    return line
            time.sleep(0.02)
        with self._lock:
            raise AssertionError(f"no {kind!r} line within {timeout}s over {self.transport}; got {self.lines!r:.2000}")

    def wait_event(self, name: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 10) -> Any:
        return self.wait("event", lambda line: line["name"] == name and predicate(line["data"]), timeout)["data"]

    def connect(self) -> NodeDevice:
        self.wait("connect")
        self.wait_event("ready")
        return self

    @property
    def sid(self) -> str:
        return self.seen("connect")[-1]["id"]

    @property
    def worker(self) -> str | None:
        return worker_of(self.sid)

    def call(self, event: str, payload: Any) -> Any:
        self._refs += 1
        ref = self._refs
        self.process.stdin.write(json.dumps({"ref": ref, "emit": event, "payload": payload}) + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]
        ack = self.wait("ack", lambda line: line["ref"] == ref)
        assert "error" not in ack, ack
        return ack["data"]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # type: ignore[union-attr]
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)


def cookieless_session() -> requests.Session:
    """A requests.Session whose jar refuses every cookie: HAProxy's CHATSRV
    Set-Cookie is dropped, like a client that keeps no cookies."""
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


@pytest.fixture
def opened():
    devices: list[Any] = []
    yield devices
    for device in devices:
        device.close()


def register(base: str) -> dict:
    username = f"u{uuid.uuid4().hex[:10]}"
    response = requests.post(
        base + "/api/v1/auth/register", json={"username": username, "password": "correct horse"}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


def direct(base: str, a: dict, b: dict) -> int:
    response = requests.post(
        base + "/api/v1/conversations", json={"type": "direct", "user_id": b["user"]["id"]},
        headers={"Authorization": f"Bearer {a['token']}"}, timeout=10,
    )  # fmt: skip
    assert response.status_code in (200, 201), response.text
    return response.json()["conversation"]["id"]


def send(device: Any, conversation_id: int, body: str) -> dict:
    ack = device.call(
        "message:send", {"conversation_id": conversation_id, "body": body, "client_id": str(uuid.uuid4())}
    )
    assert ack["ok"], ack
    return ack["message"]


def on_two_workers(connect: Callable[[dict], Any], alice: dict, bob: dict, worker: Callable[[Any], str | None]):
    """Connect alice, then bob until he lands on the other worker (the load
    balancer places a cookie-less handshake on the least busy worker)."""
    alice_device = connect(alice)
    for _ in range(8):
        bob_device = connect(bob)
        if worker(bob_device) != worker(alice_device):
            return alice_device, bob_device
        bob_device.close()
    raise AssertionError(f"8 connections of bob all landed on alice's worker {worker(alice_device)}")


def assert_messages_cross(alice_device: Any, bob_device: Any, conversation_id: int, wait_new) -> None:
    there = send(alice_device, conversation_id, "from alice's worker")
    assert wait_new(bob_device, there["id"])["message"]["body"] == "from alice's worker"
    back = send(bob_device, conversation_id, "and back from bob's")
    assert wait_new(alice_device, back["id"])["message"]["body"] == "and back from bob's"


def node_new_message(device: NodeDevice, message_id: int) -> dict:
    return device.wait_event("message:new", lambda data: data["message"]["id"] == message_id)


def python_new_message(device: Device, message_id: int) -> dict:
    return device.wait_for("message:new", lambda data: data["message"]["id"] == message_id, timeout=10)


# ---------------------------------------------------------------- the shipped configurations


def test_deploy_nginx_conf_is_the_renderers_production_output():
    """The tests run render_nginx_config; deploy/nginx.conf must be what it renders."""
    expected = deploy_cluster.render_nginx_config(**deploy_cluster.PRODUCTION_NGINX)
    assert (ROOT / "deploy" / "nginx.conf").read_text() == expected, (
        "deploy/nginx.conf is stale: python deploy/cluster.py --print-nginx-conf > deploy/nginx.conf"
    )


def test_shipped_worker_ids_agree_across_haproxy_nginx_and_systemd():
    """systemd names each worker w<port> (CHAT_WORKER_ID=w%i); both shipped
    load balancers route that prefix to the server on that port."""
    assert "Environment=CHAT_WORKER_ID=w%i" in (ROOT / "deploy" / "systemd" / "chat@.service").read_text()
    haproxy = (ROOT / "deploy" / "haproxy.cfg").read_text()
    servers = dict(re.findall(r"^    server (\S+) [\d.]+:(\d+) ", haproxy, re.MULTILINE))
    rules = dict(re.findall(r"^    use-server (\S+) if \{ url_param\(sid\) -m beg (\S+)\. \}$", haproxy, re.MULTILINE))
    assert servers and rules == {name: f"w{port}" for name, port in servers.items()}
    nginx_workers = deploy_cluster.PRODUCTION_NGINX["workers"]
    assert sorted((name, port) for name, _, port in nginx_workers) == sorted(
        (f"w{port}", int(port)) for port in servers.values()
    )


def test_shipped_nginx_conf_passes_this_nginx_s_check(tmp_path):
    """deploy/nginx.conf, included from a minimal main config, with a
    throw-away certificate in place of the Let's Encrypt paths."""
    nginx = require_binary("nginx")
    openssl = require_binary("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=chat.example.com"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    live = "/etc/letsencrypt/live/chat.example.com/"
    assert text.count(live) == 2, "deploy/nginx.conf changed its certificate paths; update this test"
    text = text.replace(live + "fullchain.pem", str(cert)).replace(live + "privkey.pem", str(key))
    (tmp_path / "chat.conf").write_text(text)
    main = MAIN_CONFIG.format(prefix=tmp_path)
    (tmp_path / "nginx.conf").write_text(main)
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


# ---------------------------------------------------------------- clients that keep no cookie


@pytest.mark.parametrize("transport", NODE_TRANSPORTS)
def test_node_client_with_default_options_chats_across_workers(cluster, balancer, node, opened, transport):
    alice, bob = register(balancer), register(balancer)
    conversation_id = direct(balancer, alice, bob)

    def connect(user: dict) -> NodeDevice:
        device = NodeDevice(node, balancer, user["token"], transport)
        opened.append(device)
        try:
            return device.connect()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs(cluster)}") from None

    alice_node, bob_node = on_two_workers(connect, alice, bob, lambda device: device.worker)

    assert {alice_node.worker, bob_node.worker} == {"w1", "w2"}
    for device in (alice_node, bob_node):
        # The Engine.IO session and the Socket.IO socket live on the same worker.
        assert worker_of(device.seen("connect")[-1]["engine"]) == device.worker
        first = device.seen("open")[0]["transport"]
        assert first == ("websocket" if transport == "websocket" else "polling")
        assert len(device.seen("open")) == 1, "the client had to reconnect: a request reached the wrong worker"
    if transport == "default":  # the upgrade request carries the sid too
        for device in (alice_node, bob_node):
            device.wait("upgrade", lambda line: line["transport"] == "websocket")
    assert_messages_cross(alice_node, bob_node, conversation_id, node_new_message)
    if transport == "polling":
        assert not alice_node.seen("upgrade") and not alice_node.seen("connect_error")


def test_python_socketio_without_cookies_over_polling(cluster, balancer, opened):
    alice, bob = register(balancer), register(balancer)
    conversation_id = direct(balancer, alice, bob)
    sessions: list[requests.Session] = []

    def connect(user: dict) -> Device:
        session = cookieless_session()
        sessions.append(session)
        device = Device(balancer, user["token"], "polling", http_session=session)
        opened.append(device)
        try:
            return device.connect()
        except Exception as exc:
            raise AssertionError(f"cookie-less polling connect failed: {exc!r}\n{logs(cluster)}") from exc

    def worker(device: Device) -> str | None:
        return worker_of(device.client.eio.sid)

    alice_device, bob_device = on_two_workers(connect, alice, bob, worker)

    assert {worker(alice_device), worker(bob_device)} == {"w1", "w2"}
    assert worker_of(alice_device.client.get_sid("/chat")) == worker(alice_device)
    assert_messages_cross(alice_device, bob_device, conversation_id, python_new_message)
    assert all(len(session.cookies) == 0 for session in sessions), "a cookie was kept"


def test_nginx_routes_every_request_of_a_session_to_its_worker(cluster, nginx, node, opened):
    """What the client cannot see: nginx's access log names the upstream of
    every request, and each request carrying a sid went to the worker it names."""
    user = register(nginx.url)
    device = NodeDevice(node, nginx.url, user["token"], "polling")
    opened.append(device)
    device.connect()
    notes = requests.post(
        nginx.url + "/api/v1/conversations", json={"type": "group", "name": "notes", "member_ids": []},
        headers={"Authorization": f"Bearer {user['token']}"}, timeout=10,
    )  # fmt: skip
    assert notes.status_code == 201, notes.text
    send(device, notes.json()["conversation"]["id"], "a few more polls")
    engine_sid = device.seen("connect")[-1]["engine"]
    port = {w.name: w.port for w in cluster.nodes}[worker_of(engine_sid)]  # type: ignore[index]

    requests_of_session = [line for line in nginx.access_log() if f"sid={engine_sid} " in line]
    assert len(requests_of_session) >= 3, nginx.access_log()[-20:]  # connect, polls, the send
    assert all(f"upstream=127.0.0.1:{port} " in line for line in requests_of_session), requests_of_session


# ---------------------------------------------------------------- the shipped production HAProxy config


def test_shipped_haproxy_config_routes_cookieless_polling_on_the_sid(cluster, node, opened, tmp_path):
    """deploy/haproxy.cfg as shipped (TLS, machine specifics replaced as in
    test_cluster.py, and the systemd worker ids w8001/w8002 replaced by the
    test workers' w1/w2): a Node client with default options, polling only."""
    from tests.e2e.test_cluster import shipped_haproxy_config

    text, ports, ca = shipped_haproxy_config(cluster, tmp_path)
    for old, new in (("-m beg w8001.", "-m beg w1."), ("-m beg w8002.", "-m beg w2.")):
        assert old in text, f"deploy/haproxy.cfg changed: {old!r} not found; update this test"
        text = text.replace(old, new)
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    haproxy = require_binary("haproxy")
    log_path = tmp_path / "haproxy.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log_file, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{ports['https']}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(base + "/healthz", verify=ca, timeout=2)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "HAProxy with TLS did not come up"
                time.sleep(0.1)
        alice = requests.post(
            base + "/api/v1/auth/register", json={"username": f"u{uuid.uuid4().hex[:10]}", "password": "correct horse"},
            verify=ca, timeout=10,
        ).json()  # fmt: skip
        # Node trusts the test CA through the environment: the client's options stay the defaults.
        device = NodeDevice(node, base, alice["token"], "polling", env={"NODE_EXTRA_CA_CERTS": ca})
        opened.append(device)
        try:
            device.connect()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- haproxy\n{log_path.read_text()[-3000:]}\n{logs(cluster)}") from None
        assert device.worker in ("w1", "w2")
        assert len(device.seen("open")) == 1 and not device.seen("connect_error")
        notes = requests.post(
            base + "/api/v1/conversations", json={"type": "group", "name": "notes", "member_ids": []},
            headers={"Authorization": f"Bearer {alice['token']}"}, verify=ca, timeout=10,
        )  # fmt: skip
        assert notes.status_code == 201, notes.text
        send(device, notes.json()["conversation"]["id"], "over TLS, no cookie")
    finally:
        process.terminate()
        process.wait(10)


# ---------------------------------------------------------------- a worker that dies


def test_a_sid_whose_worker_died_gets_session_unknown_and_the_client_reconnects(cluster, balancer, node, opened):
    """Last in this module: it kills a worker (and starts it again)."""
    alice, bob = register(balancer), register(balancer)
    conversation_id = direct(balancer, alice, bob)
    device = NodeDevice(node, balancer, alice["token"], "polling")
    opened.append(device)
    device.connect()
    dead = device.worker
    index = [w.name for w in cluster.nodes].index(dead)
    old_engine_sid = device.seen("connect")[-1]["engine"]

    cluster.kill_worker(index)
    try:
        # Right away, before any health check has noticed: the request that
        # names the dead worker is answered by a live one, which knows no such
        # session (400), instead of a gateway error.
        poll = {"EIO": "4", "transport": "polling", "sid": old_engine_sid}
        stale = requests.get(balancer + "/socket.io/", params=poll, timeout=10)
        assert stale.status_code == 400, (stale.status_code, stale.text[:300])

        # The client (default reconnection) gets a new session on the survivor and chats.
        reconnected = device.wait("connect", lambda line: worker_of(line["id"]) != dead, timeout=30)
        assert device.seen("disconnect"), device.lines
        deadline = time.monotonic() + 10
        while len([line for line in device.seen("event") if line["name"] == "ready"]) < 2:
            assert time.monotonic() < deadline, "no ready after the reconnection"
            time.sleep(0.05)
        message = send(device, conversation_id, "after my worker died")
        assert message["seq"] >= 1 and worker_of(reconnected["id"]) != dead
    finally:
        cluster.start_worker(index)
