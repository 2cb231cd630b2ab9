"""A worker gives back the memory of password hashing (issue 16: "a worker's RSS
after 2,000 registrations within 20 % of one that had none"), and its start-up
objects are out of the garbage collector's sight.

Each Argon2 hash takes 19 MiB on a thread of the CPU pool; without
chatapp/memory.py glibc kept every one of them in that thread's arena (113 MiB
grew to 421 MiB over 300 registrations). A real server process, real
registrations over HTTP, sixteen at a time; RSS read from /proc.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.security.live import rss_kib
from tests.support.server import PYTHON, ROOT, ServerProcess, migrated_database

pytestmark = [pytest.mark.e2e, pytest.mark.serial]  # RSS bound: alone on the machine

REGISTRATIONS = 200


def test_rss_after_many_registrations_stays_within_a_fifth_of_a_fresh_worker(tmp_path):
    with migrated_database("sqlite", tmp_path) as url:
        server = ServerProcess(url).start()
        try:
            assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
            before = rss_kib(server.process.pid)

            def register(n: int) -> int:
                body = {"username": f"m{n}{uuid.uuid4().hex[:8]}", "password": "correct horse battery"}
                return requests.post(server.url + "/api/v1/auth/register", json=body, timeout=60).status_code

            with ThreadPoolExecutor(16) as pool:
                statuses = list(pool.map(register, range(REGISTRATIONS)))
            assert statuses == [201] * REGISTRATIONS
            time.sleep(0.5)
            after = rss_kib(server.process.pid)
        finally:
            server.stop()
    assert after <= before * 1.2, f"RSS {before // 1024} MiB before, {after // 1024} MiB after {REGISTRATIONS} hashes"


def test_a_worker_freezes_its_start_up_objects_so_full_collections_skip_them(tmp_path):
    """~125,000 objects (modules, the app, SQLAlchemy's metadata) that a full
    collection walked with the loop stopped, ~150 ms each time."""
    env = {**os.environ, "CHAT_ASYNC_MODE": "eventlet", "CHAT_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    probe = "import gc, wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    out = subprocess.run([PYTHON, "-W", "ignore", "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    frozen, tracked = int(out[0]), int(out[1])
    assert frozen > 50_000 and tracked < frozen / 10, (frozen, tracked)
