"""Publish after commit (Zulip's ``send_event_on_commit``).

Services queue events on the database session; they are handed to the
publisher only once the transaction commits, and dropped on rollback, so a
client never sees a message that was not stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db

PENDING_KEY = "chat.pending_events"


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict
    # Audience: every device of these users ...
    users: tuple[int, ...] = ()
    # ... and every socket in these rooms (e.g. "token:5").
    rooms: tuple[str, ...] = ()
    # After delivery, close every socket in ``rooms`` (revoked sessions), on every worker.
    disconnect: bool = False


Publisher = Callable[[Event], None]


def on_commit(
    name: str, payload: dict, *, users: Iterable[int] = (), rooms: Iterable[str] = (), disconnect: bool = False
) -> None:
    """Queue an event for delivery once the current transaction commits."""
    pending = db.session.info.setdefault(PENDING_KEY, [])
    pending.append(Event(name, payload, tuple(users), tuple(rooms), disconnect))


def publish_now(name: str, payload: dict, *, users: Iterable[int] = (), rooms: Iterable[str] = ()) -> None:
    """For events with nothing to commit (typing, presence)."""
    _publisher()(Event(name, payload, tuple(users), tuple(rooms)))


def _publisher() -> Publisher:
    return current_app.extensions["chat.publisher"]


@event.listens_for(Session, "after_commit")
def _flush_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    publish = _publisher()
    # The publisher may batch a commit's events into one message-queue round trip.
    with getattr(publish, "batch", contextlib.nullcontext)():
        for queued in pending:
            publish(queued)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    session.info.pop(PENDING_KEY, None)
