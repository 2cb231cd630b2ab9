"""Every supported way to serve the app, end to end (CHAT_ASYNC_MODE chooses).

- eventlet: ``python wsgi.py`` (eventlet's WSGI server). gunicorn 23+ has no
  eventlet worker any more, so this is the eventlet deployment.
- gevent: ``python wsgi.py`` (gevent + gevent-websocket's handler),
  ``gunicorn -k gevent`` (WebSocket through simple-websocket) and
  ``gunicorn -k geventwebsocket.gunicorn.workers.GeventWebSocketWorker``.
- threading: ``python wsgi.py`` (Werkzeug; development only).

Each one must carry a real WebSocket (not a silent fallback to polling) and
long-polling alone. The last test runs a two-worker gevent cluster behind
HAProxy with Redis.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support.clients import Device, register
from tests.support.cluster import running_cluster
from tests.support.server import PYTHON, ROOT, free_port, migrate

pytestmark = pytest.mark.e2e

GUNICORN = str(Path(PYTHON).parent / "gunicorn")

SERVERS = {
    "eventlet-wsgi.py": ("eventlet", [PYTHON, "wsgi.py"]),
    "gevent-wsgi.py": ("gevent", [PYTHON, "wsgi.py"]),
    "gevent-gunicorn": ("gevent", [GUNICORN, "-k", "gevent"]),
    "gevent-gunicorn-geventwebsocket": (
        "gevent", [GUNICORN, "-k", "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"]
    ),
    "threading-wsgi.py": ("threading", [PYTHON, "wsgi.py"]),
}


@pytest.fixture(scope="module")
def sqlite_url():
    with tempfile.TemporaryDirectory(prefix="chat-modes-") as tmp:
        url = f"sqlite:///{tmp}/modes.db"
        migrate(url)
        yield url


class Served:
    def __init__(self, command: list[str], async_mode: str, database_url: str) -> None:
        self.port = free_port()
        if command[0] == GUNICORN:
            command = [*command, "-w", "1", "-b", f"127.0.0.1:{self.port}", "--no-control-socket",
                       "--graceful-timeout", "2", "wsgi:app"]  # fmt: skip
        env = {**os.environ, "CHAT_DATABASE_URL": database_url, "CHAT_ASYNC_MODE": async_mode,
               "HOST": "127.0.0.1", "PORT": str(self.port), "CHAT_RATE_MESSAGES_BURST": "1000"}  # fmt: skip
        self.log = tempfile.NamedTemporaryFile(prefix="chat-mode-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"server did not start:\n{self.output()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(5)
        self.log.close()
        os.unlink(self.log.name)


def exchange(base_url: str, transport: str) -> None:
    alice, bob = register(base_url), register(base_url)
    conv = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}).json()
    conversation_id = conv["conversation"]["id"]
    sender = Device(base_url, alice["token"], transport).connect()
    receiver = Device(base_url, bob["token"], transport).connect()
    try:
        assert sender.client.transport() == transport and receiver.client.transport() == transport
        for index, (src, dst) in enumerate([(sender, receiver), (receiver, sender)] * 2):
            body = {"conversation_id": conversation_id, "body": f"{transport} {index}", "client_id": uuid.uuid4().hex}
            ack = src.call("message:send", body)
            assert ack["ok"], ack
            got = dst.wait_for("message:new", lambda m, i=ack["message"]["id"]: m["message"]["id"] == i)
            assert got["message"]["seq"] == index + 1
        assert sender.call("typing", {"conversation_id": conversation_id, "typing": True})["ok"]
        receiver.wait_for("typing", lambda t: t["user_id"] == alice["user"]["id"])
    finally:
        sender.close()
        receiver.close()


def polling_burst(base_url: str, count: int = 30) -> None:
    """Concurrent sends of one client over long-polling: one POST of more than 16
    packets, long-poll answers of more than 16 (internals.LongPollingSocket)."""
    alice, bob = register(base_url), register(base_url)
    conv = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}).json()
    conversation_id = conv["conversation"]["id"]
    sender = Device(base_url, alice["token"], "polling").connect()
    payloads = [{"conversation_id": conversation_id, "body": f"burst {i}", "client_id": uuid.uuid4().hex}
                for i in range(count)]  # fmt: skip
    try:
        acks = sender.call_all("message:send", payloads)
        assert sender.client.connected, "the polling client dropped its connection"
        assert sorted(ack["message"]["seq"] for ack in acks if ack["ok"]) == list(range(1, count + 1)), acks
    finally:
        sender.close()


@pytest.mark.parametrize("name", list(SERVERS))
def test_each_server_carries_websocket_and_polling(sqlite_url, name):
    async_mode, command = SERVERS[name]
    served = Served(command, async_mode, sqlite_url)
    try:
        health = requests.get(served.url + "/healthz", timeout=5).json()
        assert health["async_mode"] == async_mode and health["db"] == "ok"
        for transport in ("websocket", "polling"):
            exchange(served.url, transport)
        polling_burst(served.url)
        # A polling client that upgrades (what browsers do by default) works too.
        user = register(served.url)
        device = Device(served.url, user["token"], "polling")
        device.client.connect(served.url, namespaces=["/chat"], auth={"token": user["token"]},
                              transports=["polling", "websocket"], wait_timeout=10)  # fmt: skip
        try:
            assert device.ready.wait(10)
            deadline = time.monotonic() + 5
            while device.client.transport() != "websocket" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert device.client.transport() == "websocket", "the upgrade to WebSocket did not happen"
            assert device.call("sync", {"cursors": {}})["ok"]
        finally:
            device.close()
        time.sleep(0.3)  # let the server log any error from the last disconnects
        log = served.output()
        assert "Traceback" not in log and "Error handling request" not in log, log
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- server log\n{served.output()}") from None
    finally:
        served.stop()


@pytest.mark.redis
@pytest.mark.postgres
def test_gevent_cluster_behind_haproxy():
    with running_cluster(workers=2, async_mode="gevent") as cluster:
        for worker in cluster.nodes:
            assert requests.get(worker.url + "/healthz", timeout=5).json()["async_mode"] == "gevent"
        alice, bob = register(cluster.url), register(cluster.url)
        conv = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}).json()
        conversation_id = conv["conversation"]["id"]
        for transport in ("websocket", "polling"):
            sender = Device(cluster.nodes[0].url, alice["token"], transport).connect()
            receiver = Device(cluster.nodes[1].url, bob["token"], transport).connect()
            through_lb = Device(cluster.url, bob["token"], transport).connect()
            try:
                payload = {"conversation_id": conversation_id, "body": transport, "client_id": uuid.uuid4().hex}
                ack = sender.call("message:send", payload)
                assert ack["ok"], ack
                for device in (receiver, through_lb):
                    device.wait_for("message:new", lambda m, i=ack["message"]["id"]: m["message"]["id"] == i)
            finally:
                for device in (sender, receiver, through_lb):
                    device.close()
