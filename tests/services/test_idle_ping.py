"""Pooled PostgreSQL connections are pinged at checkout only after sitting idle
(chatapp/idle_ping.py): no round trip per socket event, and still no failure
after a database restart while the worker was quiet."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from chatapp import idle_ping
from chatapp.extensions import db
from tests.conftest import TEST_DB

pytestmark = pytest.mark.skipif(TEST_DB != "postgres", reason="pooled connections to a database server: PostgreSQL")


def _backend_pid() -> int:
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    db.session.commit()  # checked in again
    return pid


def _kill(pid: int) -> None:
    other = create_engine(db.engine.url, poolclass=NullPool)  # not a connection of the pool
    with other.connect() as killer:
        killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def _pooled_record():
    """The record of the connection the pool hands out next (LIFO of one idle connection)."""
    return next(iter(db.engine.pool._pool.queue))


def test_a_connection_that_sat_idle_is_pinged_and_a_dead_one_replaced(app):
    first = _backend_pid()
    _kill(first)
    _pooled_record().info["chat.idle_since"] -= idle_ping.IDLE_SECONDS + 1  # as if it sat idle
    assert _backend_pid() != first  # no error: the ping found it dead, the pool opened another


def test_a_connection_checked_in_moments_ago_is_not_pinged(app):
    """Its last statement proved it alive; if it died since, that event fails (the
    client retries) and the pool is refreshed for the next one."""
    first = _backend_pid()
    _kill(first)
    with pytest.raises(OperationalError):
        db.session.execute(text("SELECT 1"))
    db.session.rollback()
    assert _backend_pid() != first
