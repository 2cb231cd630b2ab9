"""Password hashing runs beside the event loop, not on it.

Argon2id at OWASP cost takes tens of milliseconds per hash. Under eventlet a
hash computed on the hub would freeze every socket of the worker for that
long; the server hands it to eventlet's thread pool instead. The proof is
relative, not a timing target: while a burst of registrations is hashed, a
connected socket's round trips stay far below the burst's total hashing time.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests

from tests.support.clients import Device, register
from tests.support.server import ServerProcess, migrate

# serial: round trips against hashing time; alone, after the parallel phase (docs/testing.md).
pytestmark = [pytest.mark.e2e, pytest.mark.serial]

BURST = 12


def test_registrations_do_not_stall_other_sockets(tmp_path):
    url = f"sqlite:///{tmp_path / 'loop.db'}"
    migrate(url)
    # Argon2 at 64 MiB makes each hash slow enough (~50+ ms) to see a stall clearly.
    server = ServerProcess(url, extra_env={"CHAT_ARGON2_MEMORY_KIB": "65536", "CHAT_RATE_LOGIN_BURST": "100"}).start()
    try:
        user = register(server.url)
        device = Device(server.url, user["token"]).connect()

        started = time.monotonic()
        for _ in range(3):
            register(server.url)
        per_hash = (time.monotonic() - started) / 3

        stop = threading.Event()
        round_trips: list[float] = []

        def ping() -> None:
            while not stop.is_set():
                sent = time.monotonic()
                ack = device.call("sync", {"cursors": {}})
                assert ack["ok"]
                round_trips.append(time.monotonic() - sent)
                time.sleep(0.005)

        pinger = threading.Thread(target=ping)
        pinger.start()
        time.sleep(0.2)

        def sign_up() -> None:
            response = requests.post(server.url + "/api/v1/auth/register",
                                     json={"username": f"b{uuid.uuid4().hex[:10]}", "password": "correct horse"})
            assert response.status_code == 201

        burst = [threading.Thread(target=sign_up) for _ in range(BURST)]
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join(60)
        stop.set()
        pinger.join(10)

        serial_hashing = per_hash * BURST
        worst = max(round_trips)
        assert len(round_trips) > 5
        # On the hub, the burst would hold a round trip for most of serial_hashing.
        assert worst < serial_hashing / 3, f"worst round trip {worst:.3f}s vs {serial_hashing:.3f}s of hashing"
        device.close()
    finally:
        server.stop()
