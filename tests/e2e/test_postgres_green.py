"""PostgreSQL under eventlet and gevent must not block the hub.

One worker process serves every socket on one OS thread. psycopg2 waits for
PostgreSQL inside libpq, which blocks that thread, unless psycogreen makes it
wait on the hub instead (wsgi.py applies it). The proof: a separate
PostgreSQL connection holds a row lock on one conversation, so a send in it
blocks inside PostgreSQL (we watch it wait in ``pg_stat_activity``); meanwhile
another conversation's sends on the same worker keep flowing with low
latency. A control run on a server whose psycopg2 was left blocking shows
the same probe stalling until the lock is released, so the probe can tell.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid

import psycopg2
import pytest
import requests

from tests.support.clients import Device, register
from tests.support.server import PYTHON, ROOT, ServerProcess, free_port, migrate
from tests.support.services import scratch_postgres_database

# serial: probe latencies against a bound; alone, after the parallel phase (docs/testing.md).
pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.serial]

HOLD_SECONDS = 4.0
PROBES = 10
# Without psycogreen the first probe waits for the whole remaining hold.
FAST_ENOUGH = 1.0

# Control servers: monkey-patched like wsgi.py but with psycopg2 left blocking.
# eventlet's monkey_patch() greens psycopg2 itself unless told not to; gevent's
# patch_all() never does, which is why wsgi.py applies psycogreen.
UNPATCHED_LAUNCHERS = {
    "eventlet": "import eventlet\neventlet.monkey_patch(psycopg=False)\n",
    "gevent": "from gevent import monkey\nmonkey.patch_all()\n",
}
SERVE = """
import os
from chatapp import create_app
from chatapp.extensions import socketio
app = create_app()
socketio.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_output=False)
"""


@pytest.fixture(scope="module")
def pg_url():
    with scratch_postgres_database() as url:
        migrate(url)
        yield url


class Unpatched:
    """Same server, started without psycogreen (the control)."""

    def __init__(self, database_url: str, async_mode: str) -> None:
        self.port = free_port()
        env = {**os.environ, "CHAT_DATABASE_URL": database_url, "CHAT_ASYNC_MODE": async_mode, "PORT": str(self.port)}
        self.process = subprocess.Popen(
            [PYTHON, "-c", UNPATCHED_LAUNCHERS[async_mode] + SERVE], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("control server did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def waiting_on_lock(database_url: str, timeout: float = 10) -> bool:
    """True once a server backend waits for our row lock."""
    dbname = database_url.rsplit("/", 1)[1]
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with conn.cursor() as cur:
                # The send's seq allocation: the SQL text, its prepared form
                # (chatapp/prepared.py sends EXECUTE of a server-side statement),
                # or the one-round-trip send's call (services/one_trip_send.py).
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' "
                    "AND (query ILIKE 'UPDATE conversations%%' OR query ILIKE 'EXECUTE chat_prepared_%%' "
                    "OR query ILIKE 'EXECUTE chat_send_call%%')",
                    (dbname,),
                )
                if cur.fetchone()[0] > 0:
                    return True
            time.sleep(0.05)
        return False
    finally:
        conn.close()


def probe_while_locked(base_url: str, database_url: str) -> dict:
    alice, bob, carol, dave = (register(base_url) for _ in range(4))
    locked_conv = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}).json()
    free_conv = carol["api"].post("/conversations", json={"type": "direct", "user_id": dave["user"]["id"]}).json()
    locked_id, free_id = locked_conv["conversation"]["id"], free_conv["conversation"]["id"]
    alice_dev = Device(base_url, alice["token"]).connect()
    carol_dev = Device(base_url, carol["token"]).connect()
    dave_dev = Device(base_url, dave["token"], "polling").connect()

    locker = psycopg2.connect(database_url)
    blocked_ack: dict = {}
    try:
        with locker.cursor() as cur:
            cur.execute("SELECT id FROM conversations WHERE id = %s FOR UPDATE", (locked_id,))
        locked_at = time.monotonic()
        release = threading.Timer(HOLD_SECONDS, locker.commit)
        release.start()

        def blocked_send() -> None:
            payload = {"conversation_id": locked_id, "body": "stuck behind a lock", "client_id": str(uuid.uuid4())}
            blocked_ack.update(alice_dev.call("message:send", payload, timeout=HOLD_SECONDS + 20))
            blocked_ack["at"] = time.monotonic()

        sender = threading.Thread(target=blocked_send)
        sender.start()
        assert waiting_on_lock(database_url), "the send never reached the row lock"

        latencies = []
        for index in range(PROBES):
            started = time.monotonic()
            ack = carol_dev.call(
                "message:send", {"conversation_id": free_id, "body": f"probe {index}", "client_id": str(uuid.uuid4())},
                timeout=HOLD_SECONDS + 20,
            )  # fmt: skip
            assert ack["ok"], ack
            dave_dev.wait_for("message:new", lambda m, i=ack["message"]["id"]: m["message"]["id"] == i, timeout=30)
            latencies.append(time.monotonic() - started)
        probes_done_at = time.monotonic()
        sender.join(HOLD_SECONDS + 20)
        release.join()
        return {
            "latencies": latencies,
            "probes_done_while_locked": "at" not in blocked_ack or probes_done_at < blocked_ack["at"],
            "probes_done_after": probes_done_at - locked_at,
            "blocked_ack": blocked_ack,
        }
    finally:
        locker.close()
        for device in (alice_dev, carol_dev, dave_dev):
            device.close()


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_a_query_waiting_on_a_lock_does_not_stall_other_sockets(pg_url, async_mode):
    server = ServerProcess(pg_url, async_mode, {"CHAT_RATE_MESSAGES_BURST": "100"}).start()
    try:
        result = probe_while_locked(server.url, pg_url)
    finally:
        server.stop()
    latencies = result["latencies"]
    assert max(latencies) < FAST_ENOUGH, f"{async_mode}: a probe stalled: {latencies}"
    assert result["probes_done_while_locked"], "the probes only ran after the lock was released"
    assert result["probes_done_after"] < HOLD_SECONDS
    # The blocked send completes once the lock is released, with its message stored.
    assert result["blocked_ack"]["ok"] and result["blocked_ack"]["message"]["seq"] == 1
    print(f"\n{async_mode} + psycogreen: {len(latencies)} probes during a {HOLD_SECONDS:.0f}s lock, "
          f"max {max(latencies) * 1000:.0f} ms")  # fmt: skip


@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_control_with_a_blocking_driver_the_probe_stalls(pg_url, async_mode):
    """Guards the test above: the same probe against a blocking psycopg2 stalls."""
    server = Unpatched(pg_url, async_mode)
    try:
        result = probe_while_locked(server.url, pg_url)
    finally:
        server.stop()
    assert max(result["latencies"]) > HOLD_SECONDS / 2, result["latencies"]
    assert not result["probes_done_while_locked"]
