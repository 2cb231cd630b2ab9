"""Group commit on SQLite: sends that arrive together share one transaction and one commit.

A SQLite commit writes every page the send touched to the WAL (~15 pages, and
each commit adds a segment to the search index). When several sends are waiting
at once (a busy worker: the sockets read in one turn of the event loop), the
first becomes the group's leader and runs them all, one after the other, each in
a savepoint of its own, then commits once. Each is acknowledged only after that
commit, as before. create_app installs a group on SQLite only: there one writer
runs at a time anyway, while on PostgreSQL sends overlap on pooled connections
that one leader would serialise.

What a group keeps of the one-send-one-transaction behaviour:
- each send is decided exactly as it would be alone, in arrival order, seeing
  the sends before it in the group (sorted by conversation, stable: with row
  locks, as the tests drive it on PostgreSQL, two groups lock in one order);
- a send refused by the rules (a ``ChatError``) is rolled back to its savepoint
  and answered with its error; the group's other sends are not touched;
- anything else (a database error, a failed commit) rolls the whole group back
  and runs each of its sends again alone, in a transaction of its own, so one
  failure cannot cost another send more than a retry;
- events are published after the group's commit; a send undone drops the events
  it queued, and only those.

A send alone (no other waiting, the usual case at low load) runs exactly as
before: no savepoint, its own commit. Leadership passes to the next waiting send
after each group, so no leader's own acknowledgement waits behind later groups.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from flask import current_app

from .. import metrics
from ..extensions import db
from . import events
from .errors import ChatError

T = TypeVar("T")
# The savepoint of the send running inside a group (absent when a send runs alone).
SAVEPOINT_KEY = "chat.group_commit.savepoint"
EXTENSION_KEY = "chat.send_group"


class _Savepoint:
    """A send's savepoint, on the DBAPI connection: the ORM's nested transactions
    cost more than the commit a group saves (each ``session.connection()`` inside
    one walks the transaction stack). The send path is Core; the ORM objects a
    refused send may have loaded are expired when it is undone."""

    __slots__ = ("cursor", "events_mark", "open")

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.events_mark = events.queued()
        self.open = True
        cursor.execute("SAVEPOINT chat_send")

    def release(self) -> None:
        if self.open:
            self.open = False
            self.cursor.execute("RELEASE SAVEPOINT chat_send")

    def undo(self) -> None:
        if self.open:
            self.open = False
            self.cursor.execute("ROLLBACK TO SAVEPOINT chat_send")
            self.cursor.execute("RELEASE SAVEPOINT chat_send")
            events.drop_since(self.events_mark)
            db.session.expire_all()


def finish() -> None:
    """End the current send's unit of work: commit it when it runs alone; inside a
    group the group commits (its runner releases the savepoint)."""
    if SAVEPOINT_KEY not in db.session.info:
        db.session.commit()


def discard() -> None:
    """Undo the current send's writes and queued events, and only those: its
    savepoint inside a group, else its transaction. Reads after it see what was
    there before the send."""
    savepoint = cast("_Savepoint | None", db.session.info.get(SAVEPOINT_KEY))
    if savepoint is None:
        db.session.rollback()
    else:
        savepoint.undo()


def run(order_key: int, work: Callable[[], T]) -> T:
    """Run ``work`` (a send's reads, writes and queued events) in this app's send
    group when it has one, else alone."""
    group = cast("SendGroup | None", current_app.extensions.get(EXTENSION_KEY))
    if group is None:
        return work()
    return group.run(order_key, work)


class _Job(Generic[T]):
    __slots__ = ("order_key", "work", "wake", "finished", "result", "error")

    def __init__(self, order_key: int, work: Callable[[], T]) -> None:
        self.order_key = order_key
        self.work = work
        self.wake: threading.Event | None = None  # a follower's: green under eventlet and gevent
        self.finished = False
        self.result: Any = None
        self.error: BaseException | None = None

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.result)


class SendGroup:
    """One per app (per worker process): it only decides which sends share a
    transaction, and keeps nothing between groups."""

    def __init__(self, max_size: int = 32, gather: Callable[[], None] = lambda: time.sleep(0)) -> None:
        self.max_size = max_size
        # Yields once so that the sends read in the same turn of the event loop
        # queue up behind the leader (a green sleep(0) once monkey-patched).
        self._gather = gather
        self._lock = threading.Lock()
        self._waiting: list[_Job[Any]] = []
        self._leading = False

    def run(self, order_key: int, work: Callable[[], T]) -> T:
        job: _Job[T] = _Job(order_key, work)
        with self._lock:
            self._waiting.append(job)
            lead = not self._leading
            self._leading = True
            if not lead:
                job.wake = threading.Event()  # made under the lock: before any leader can set it
        if job.wake is not None:
            job.wake.wait()
            if job.finished:
                return job.outcome()
            # Promoted: the previous leader left this send waiting at the front.
        self._lead()
        return job.outcome()

    def _lead(self) -> None:
        self._gather()
        with self._lock:
            group, self._waiting = self._waiting[: self.max_size], self._waiting[self.max_size:]
        try:
            if len(group) == 1:
                _alone(group[0])
            else:
                _together(sorted(group, key=lambda job: job.order_key))
        finally:
            for job in group:
                if not job.finished:  # only if the runner itself failed (a bug): never leave a send waiting
                    job.settle(error=RuntimeError("the send group failed"))
                if job.wake is not None:
                    job.wake.set()
            with self._lock:
                if self._waiting:
                    cast(threading.Event, self._waiting[0].wake).set()  # the next leader (a follower)
                else:
                    self._leading = False


def _alone(job: _Job[Any]) -> None:
    try:
        job.settle(result=job.work())
    except BaseException as error:  # noqa: BLE001 - handed to the send's own caller, which raises it
        job.settle(error=error)
        with contextlib.suppress(Exception):  # a lost connection: the pool replaces it at the next checkout
            db.session.rollback()  # the next send of a retried group starts clean


def _together(group: list[_Job[Any]]) -> None:
    metrics.SEND_GROUP_SIZE.observe(len(group))
    session = db.session
    outcomes: list[tuple[Any, BaseException | None]] = []
    try:
        connection = session.connection()
        raw = connection.connection.dbapi_connection
        if connection.dialect.name == "sqlite" and not raw.in_transaction:  # type: ignore[union-attr]
            # pysqlite opens a transaction only at the first write, and RELEASE of an
            # outermost SAVEPOINT is a COMMIT: open it here so the group commits once.
            raw.execute("BEGIN")  # type: ignore[union-attr]
        cursor = connection.connection.cursor()
        for job in group:
            savepoint = session.info[SAVEPOINT_KEY] = _Savepoint(cursor)
            try:
                result = job.work()
            except ChatError as refused:
                savepoint.undo()
                outcomes.append((None, refused))
            else:
                savepoint.release()
                outcomes.append((result, None))
            finally:
                del session.info[SAVEPOINT_KEY]
        session.commit()
    except Exception:  # noqa: BLE001 - a database failure: each send again, alone
        session.rollback()
        metrics.SEND_GROUP_RETRIED.inc()
        for job in group:
            _alone(job)
        return
    for job, (result, error) in zip(group, outcomes, strict=True):
        job.settle(result=result, error=error)
