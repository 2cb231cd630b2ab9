"""Access to the machine's PostgreSQL and Redis, with scratch databases and key prefixes.

On a developer laptop a missing service skips the tests that need it, with
the reason; in CI (CI=true) a missing service fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = os.environ.get("CHAT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip on a laptop, fail in CI: CI must never silently skip a service test."""
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    candidates = (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/usr/lib/postgresql/15/bin/{name}")
    path = shutil.which(name) or next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        missing(f"{name} is not installed")
    return path  # type: ignore[return-value]


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def require_redis() -> str:
    if not redis_available():
        missing(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


def postgres_available() -> bool:
    import psycopg2

    try:
        psycopg2.connect(PG_ADMIN_URL, connect_timeout=2).close()
        return True
    except Exception:
        return False


def require_postgres() -> str:
    if not postgres_available():
        missing(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


def xdist_worker() -> str:
    """``gw0``, ``gw1``... in a pytest-xdist worker, ``main`` in a serial run."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """CREATE a uniquely named database, yield its URL, DROP it afterwards.

    The name carries the xdist worker (chat_test_gw1_<random>): the random part
    keeps parallel workers and concurrent runs apart, the worker part tells
    whose database a leftover one was."""
    import psycopg2

    admin = require_postgres()
    name = f"chat_test_{xdist_worker()}_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    try:
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        base = admin.rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@contextmanager
def scratch_redis_prefix() -> Iterator[str]:
    """A key prefix of our own; every key under it is deleted afterwards."""
    import redis

    require_redis()
    prefix = f"chattest-{xdist_worker()}-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
        client.close()
