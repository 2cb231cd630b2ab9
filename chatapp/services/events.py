"""Publish after commit (Zulip's ``send_event_on_commit``).

Services queue events on the database session; they are handed to the
publisher only once the transaction commits, and dropped on rollback, so a
client never sees a message that was not stored.

An event is one of the contract's types (chatapp/contract/events.py): the
event name, its payload's shape and its audience are written there once, so a
service cannot publish an event the contract does not know.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ..contract.events import SERVER_EVENT_NAMES, ServerEvent
from ..contract.objects import as_dict
from ..extensions import db

PENDING_KEY = "chat.pending_events"


@dataclass(frozen=True)
class Event:
    name: str
    payload: dict[str, Any]
    # Audience: every device of these users ...
    users: tuple[int, ...] = ()
    # ... and every socket in these rooms (e.g. "token:5").
    rooms: tuple[str, ...] = ()
    # After delivery, close every socket in ``rooms`` (revoked sessions), on every worker.
    disconnect: bool = False


@dataclass(frozen=True)
class EventEach:
    """One event to several users, each with a payload of their own (a room
    message's ``unread`` badges, 99 for a 100-member room). A publisher with an
    ``each`` attribute takes it in one call; any other publisher gets one
    ``Event`` per user, in order (``split``)."""

    name: str
    payloads: tuple[tuple[int, dict[str, Any]], ...]  # (user id, that user's payload)

    def split(self) -> list[Event]:
        return [Event(self.name, payload, (uid,)) for uid, payload in self.payloads]


Publisher = Callable[[Event], None]


def on_commit(
    event: ServerEvent,
    *,
    users: Iterable[int] = (),
    rooms: Iterable[str] = (),
    disconnect: bool = False,
) -> dict[str, Any]:
    """Queue an event of the contract for delivery once the current transaction
    commits. Returns its JSON-ready payload (an ack may carry the same objects)."""
    name, data = _typed(event)
    pending = db.session.info.setdefault(PENDING_KEY, [])
    pending.append(Event(name, data, tuple(users), tuple(rooms), disconnect))
    return data


def on_commit_each(per_user: Iterable[tuple[int, ServerEvent]]) -> None:
    """Queue one event of the contract to each user, with a payload of their own
    (``Unread``: each member's own counts), as one ``EventEach``: delivered once
    the transaction commits, in its place among the other queued events. All the
    events are of one type."""
    items = list(per_user)
    if not items:
        return
    kind = type(items[0][1])
    name, _ = _typed(items[0][1])  # the contract's checks, once for the type
    payloads = []
    for uid, each in items:
        if type(each) is not kind:
            raise TypeError(f"on_commit_each: {type(each).__name__} among {kind.__name__} events")
        payloads.append((uid, as_dict(each)))
    pending = db.session.info.setdefault(PENDING_KEY, [])
    pending.append(EventEach(name, tuple(payloads)))


def queued() -> int:
    """How many events the current transaction has queued: a mark for ``drop_since``."""
    return len(db.session.info.get(PENDING_KEY, ()))


def drop_since(mark: int) -> None:
    """Drop the events queued after ``mark`` (a send undone to its savepoint,
    services/group_commit.py); those before it stay queued."""
    del db.session.info.get(PENDING_KEY, [])[mark:]


def publish_now(event: ServerEvent, *, users: Iterable[int] = (), rooms: Iterable[str] = ()) -> None:
    """For events with nothing to commit (typing, presence)."""
    name, data = _typed(event)
    _publisher()(Event(name, data, tuple(users), tuple(rooms)))


def _typed(event: ServerEvent) -> tuple[str, dict[str, Any]]:
    """The wire name and JSON-ready payload of a contract event; anything else is refused."""
    if not isinstance(event, ServerEvent) or type(event).NAME not in SERVER_EVENT_NAMES:
        raise TypeError(f"not an event of the contract: {event!r:.80}")
    if event.DIRECT:
        raise TypeError(f"{event.NAME} is sent by the realtime layer, not published through services.events")
    return event.NAME, as_dict(event)


def _publisher() -> Publisher:
    return cast(Publisher, current_app.extensions["chat.publisher"])


@event.listens_for(Session, "after_commit")
def _flush_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    publish = _publisher()
    each = getattr(publish, "each", None)
    # The publisher may batch a commit's events into one message-queue round trip.
    with getattr(publish, "batch", contextlib.nullcontext)():
        for queued in pending:
            if type(queued) is Event:
                publish(queued)
            elif each is not None:
                each(queued)
            else:
                for one in queued.split():
                    publish(one)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    session.info.pop(PENDING_KEY, None)
