"""``sync``: what a device missed while it was away (PROTOCOL.md "Catching up on every change").

v1 (``cursors`` only): the messages after each cursor. v2 (``versions`` too):
also ``changes`` (messages at or below the cursor changed after the version),
``conversations`` (changed, or new to the device) and ``removed``, plus the
extension fields ``cursors``/``versions``: exactly what to send next.

Cost grows with what changed, not with history: conversations the device is
up to date with cost no query of their own (their ``last_seq`` and ``version``
come from one query over all of them); behind ones read an index range, by
(conversation_id, seq) for new messages and (conversation_id, version) for
changes.

Consistency without a snapshot: each conversation's ``last_seq`` and
``version`` are read first, and its messages and changes are bounded by them.
A change committed after that read is not answered now but has a higher
version, so the next sync finds it; nothing committed at or below the
version handed back can be missed (versions commit in order, services/versions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import and_, bindparam, select

from ..contract import objects as contract
from ..contract.events import SyncAnswer
from ..contract.objects import as_dict
from ..extensions import db
from ..models import Conversation, Departure, Membership, Message, User
from . import conversations as conversation_service
from .errors import field_error
from .messaging import rows_to_objects
from .validation import MISSING, clamp_limit, integer

MAX_SYNC_CURSORS = 1000

_MESSAGES = Message.__table__
_NEW_MESSAGES = (
    select(*_MESSAGES.c)
    .where(
        _MESSAGES.c.conversation_id == bindparam("p_cid"),
        _MESSAGES.c.seq > bindparam("p_after"),
        _MESSAGES.c.seq <= bindparam("p_upto"),
    )
    .order_by(_MESSAGES.c.seq)
    .limit(bindparam("p_limit"))
)
_CHANGED_MESSAGES = (
    select(*_MESSAGES.c)
    .where(
        _MESSAGES.c.conversation_id == bindparam("p_cid"),
        _MESSAGES.c.version > bindparam("p_since"),
        _MESSAGES.c.version <= bindparam("p_upto"),
        _MESSAGES.c.seq <= bindparam("p_seq"),
    )
    .order_by(_MESSAGES.c.version)
    .limit(bindparam("p_limit"))
)


@dataclass
class _Position:
    """One conversation as this sync sees it."""

    id: int
    last_seq: int
    version: int
    member: bool
    public: bool

    @property
    def readable(self) -> bool:
        return self.member or self.public


def sync(user: User, cursors: object, limit: object, versions: object = MISSING) -> dict[str, Any]:
    """The ``sync`` ack's fields (without ``ok``)."""
    cfg = current_app.config
    if cursors is MISSING or cursors is None:
        raise field_error("cursors", "required")
    seen = _positions(cursors, "cursors")
    since = None if versions is MISSING or versions is None else _positions(versions, "versions")
    budget = clamp_limit(limit, cfg["SYNC_DEFAULT_LIMIT"], cfg["SYNC_MAX_LIMIT"])
    asked = set(seen) | set(since or ())
    positions = _read_positions(user, asked)
    readable = [cid for cid in sorted(seen) if cid in positions and positions[cid].readable]
    answer = _Answer(budget)
    for cid in readable:
        # Where the budget runs out, the rest stay where the device is.
        answer.next_cursors[cid] = seen[cid]
        if since is not None and cid in since:
            answer.next_versions[cid] = since[cid]
    for cid in readable:
        if not answer.catch_up(positions[cid], seen[cid], None if since is None else since.get(cid)):
            break
    if since is None:
        return as_dict(SyncAnswer(messages=answer.messages, has_more=answer.has_more))
    return _v2_answer(user, answer, seen, since, positions)


def _positions(value: object, field: str) -> dict[int, int]:
    """``{"<conversation id>": integer >= 0}``, validated."""
    if not isinstance(value, dict):
        raise field_error(field, "must be an object of conversation id to integer")
    if len(value) > MAX_SYNC_CURSORS:
        raise field_error(field, f"at most {MAX_SYNC_CURSORS} conversations")
    parsed: dict[int, int] = {}
    for raw_id, number in value.items():
        if not isinstance(raw_id, str) or not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 18:
            raise field_error(field, f"malformed conversation id {raw_id!r:.40}")
        parsed[int(raw_id)] = integer(number, f"{field}.{raw_id}", minimum=0)  # type: ignore[assignment]
    return parsed


def _read_positions(user: User, ids: set[int]) -> dict[int, _Position]:
    """``last_seq``, ``version`` and the caller's access for every conversation asked about, in one query."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            Conversation.id, Conversation.type, Conversation.visibility, Conversation.last_seq,
            Conversation.version, Membership.user_id,
        )
        .outerjoin(Membership, and_(Membership.conversation_id == Conversation.id, Membership.user_id == user.id))
        .where(Conversation.id.in_(ids))
    )
    return {
        row.id: _Position(
            row.id, row.last_seq, row.version, row.user_id is not None,
            conversation_service.is_public_kind(row.type, row.visibility),
        )
        for row in rows
    }


class _Answer:
    """Messages and changes, conversation by conversation, within one budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.messages: list[contract.Message] = []
        self.changes: list[contract.Message] = []
        self.has_more = False
        self.next_cursors: dict[int, int] = {}
        self.next_versions: dict[int, int] = {}

    @property
    def room(self) -> int:
        return self.budget - len(self.messages) - len(self.changes)

    def catch_up(self, position: _Position, cursor: int, version: int | None) -> bool:
        """One conversation's changes, then its new messages. False once the budget is spent."""
        cid = position.id
        connection = db.session.connection()
        if version is not None and version < position.version:
            if self.room <= 0:
                self.has_more = True
                return False
            rows = connection.execute(_CHANGED_MESSAGES, {
                "p_cid": cid, "p_since": version, "p_upto": position.version, "p_seq": cursor,
                "p_limit": self.room + 1,
            }).all()
            if len(rows) > self.room:
                # Cut inside the changes: none of this conversation's messages.
                rows = rows[: self.room]
                self.changes.extend(rows_to_objects(rows))
                self.next_versions[cid] = rows[-1].version
                self.has_more = True
                return False
            self.changes.extend(rows_to_objects(rows))
            # Every change of the messages the device holds, up to the position's
            # version, is in hand; what is left are new messages (by seq).
            self.next_versions[cid] = position.version
        if cursor < position.last_seq:
            if self.room <= 0:
                self.has_more = True
                return False
            rows = connection.execute(_NEW_MESSAGES, {
                "p_cid": cid, "p_after": cursor, "p_upto": position.last_seq, "p_limit": self.room + 1,
            }).all()
            cut = len(rows) > self.room
            rows = rows[: self.room]
            # A message changed after the position was read carries a version
            # above it: stop before it, so that everything answered is at or
            # below the conversation's version (the contract's own paging rule,
            # "the highest version received", then never skips a change).
            fresh = next((i for i, row in enumerate(rows) if row.version > position.version), None)
            if fresh is not None:
                rows, cut = rows[:fresh], True
            self.messages.extend(rows_to_objects(rows))
            if cut:
                if rows:
                    self.next_cursors[cid] = rows[-1].seq
                if version is not None:
                    # Every change at or below the position's version is in hand:
                    # those of older messages as changes, newer ones as messages.
                    self.next_versions[cid] = max(version, position.version)
                self.has_more = True
                return False
        self.next_cursors[cid] = max(cursor, position.last_seq)
        if version is not None:
            self.next_versions[cid] = max(version, position.version)
        return True


def _v2_answer(
    user: User, answer: _Answer, seen: dict[int, int], since: dict[int, int], positions: dict[int, _Position]
) -> dict[str, Any]:
    asked = set(seen) | set(since)
    visible = {cid for cid in asked if cid in positions and positions[cid].readable}
    departed = _departed(user, {cid for cid in visible if not positions[cid].member})
    removed = sorted((asked - visible) | departed)
    mine = set(db.session.scalars(select(Membership.conversation_id).where(Membership.user_id == user.id)))
    new = mine - set(seen)
    changed = {cid for cid in visible - departed if cid in since and since[cid] < positions[cid].version}
    listed = conversation_service.objects_by_id(user, sorted(changed | new))
    for conversation in listed:
        if conversation.id in new:
            answer.next_cursors[conversation.id] = conversation.last_seq
            answer.next_versions[conversation.id] = conversation.version
    for cid in removed:
        answer.next_cursors.pop(cid, None)
        answer.next_versions.pop(cid, None)
    return as_dict(SyncAnswer(
        messages=answer.messages,
        changes=answer.changes,
        conversations=listed,
        removed=removed,
        has_more=answer.has_more,
        cursors={str(cid): seq for cid, seq in sorted(answer.next_cursors.items())},
        versions={str(cid): version for cid, version in sorted(answer.next_versions.items())},
    ))


def _departed(user: User, ids: set[int]) -> set[int]:
    """Public rooms among ``ids`` that the caller was a member of and left (or was removed from)."""
    if not ids:
        return set()
    return set(
        db.session.scalars(
            select(Departure.conversation_id).where(Departure.user_id == user.id, Departure.conversation_id.in_(ids))
        )
    )
