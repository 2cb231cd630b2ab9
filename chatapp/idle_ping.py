"""Ping a pooled PostgreSQL connection at checkout only when it has sat idle.

SQLAlchemy's ``pool_pre_ping`` pings at every checkout, and every socket event
checks a connection out: one more round trip per event, for the worker and
for PostgreSQL (a tenth of a send's database work once its own statements are
prepared). A connection checked in moments ago is as alive as its last
statement proved it; one idle for longer than ``IDLE_SECONDS`` (a database
restart, a firewall that dropped it) is pinged, and replaced when dead, before
anything uses it. A connection that dies while the worker is busy fails the
statement that uses it: SQLAlchemy then invalidates the whole pool, that event
answers ``unavailable`` (clients retry) and the retry gets a new connection.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

IDLE_SECONDS = 2.0
_SINCE = "chat.idle_since"


def install(engine: Engine, idle_seconds: float = IDLE_SECONDS) -> None:
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_connection: Any, record: Any) -> None:
        record.info[_SINCE] = time.monotonic()  # just proved alive by connecting

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_SINCE)
        if since is not None and time.monotonic() - since < idle_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except dbapi_error as error:
            # The pool invalidates this connection and checks out another.
            raise DisconnectionError("a pooled connection was dead after sitting idle") from error
