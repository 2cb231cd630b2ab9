"""The message queue goes away under a worker: /healthz says so, sends still
succeed (the message is stored, clients recover it through sync), and every
event the queue did not take is counted in /metrics."""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests

from tests.support.clients import Device, register
from tests.support.redis_server import PrivateRedis
from tests.support.server import ServerProcess, migrate
from tests.support.services import scratch_postgres_database

# serial: a send must not hang past a bound; alone, after the parallel phase (docs/testing.md).
pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres, pytest.mark.serial]


def publish_failures(url: str) -> float:
    text = requests.get(url + "/metrics", timeout=5).text
    found = re.search(r"^chat_publish_failures_total ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_queue_outage_is_reported_counted_and_loses_no_message():
    redis = PrivateRedis().start()
    try:
        with scratch_postgres_database() as url:
            migrate(url)
            server = ServerProcess(url, extra_env={"CHAT_REDIS_URL": redis.url, "CHAT_REDIS_PREFIX": "outage"}).start()
            try:
                health = requests.get(server.url + "/healthz", timeout=5)
                assert health.status_code == 200 and health.json()["message_queue"] == "ok"
                alice, bob = register(server.url), register(server.url)
                conv = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]})
                conversation_id = conv.json()["conversation"]["id"]
                sender = Device(server.url, alice["token"]).connect()
                assert publish_failures(server.url) == 0

                redis.stop()
                health = requests.get(server.url + "/healthz", timeout=10)
                assert health.status_code == 503
                assert health.json()["message_queue"] == "error" and health.json()["db"] == "ok"

                started = time.monotonic()
                payload = {"conversation_id": conversation_id, "body": "queue is down", "client_id": uuid.uuid4().hex}
                ack = sender.call("message:send", payload, timeout=15)
                assert ack["ok"], ack
                assert time.monotonic() - started < 5, "a send hung on the dead queue"
                assert publish_failures(server.url) >= 1

                history = bob["api"].get(f"/conversations/{conversation_id}/messages").json()["messages"]
                assert [m["body"] for m in history] == ["queue is down"]
                sender.close()
            finally:
                server.stop()
    finally:
        redis.stop()
