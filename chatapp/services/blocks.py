"""Blocking (PROTOCOL.md v2 "Account and safety"; semantics in docs/security.md).

A block works both ways: when either of two users blocked the other, no new
direct conversation between them, no sending in their existing one (it stays
readable), and neither sees the other's presence or typing. Group messages
still flow. The blocked user is never told: every answer they get is the one
they would get without the block, except the refused send, which is a plain
``forbidden``.

The checks live here and are called by the services (conversations, messaging,
presence, typing), never by the transports, so REST and sockets agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Integer, and_, bindparam, delete, literal, or_, select, union
from sqlalchemy.exc import IntegrityError

from ..contract import objects as contract
from ..extensions import db
from ..models import Block, User
from ..prepared import Prepared
from .errors import Forbidden, NotFound, field_error
from .validation import entity_id

# One round trip, two primary-key probes, asked once per direct send (groups never
# ask), pre-built like the rest of the send path. Folding it into the sender-state
# query as a CASE subquery saved the round trip but tripled that query's cost on
# PostgreSQL (psycopg2 plans every statement; 106 -> 259 us, groups included), so it
# stays a query of its own (docs/performance.md "Blocking on the send path").
_UID = bindparam("p_uid", type_=Integer)
_OTHER = bindparam("p_other", type_=Integer)
DIRECT_REFUSED = (
    select(literal(1))
    .where(or_(
        and_(Block.blocker_id == _UID, Block.blocked_id == _OTHER),
        and_(Block.blocker_id == _OTHER, Block.blocked_id == _UID),
    ))
    .limit(1)
)
_DIRECT_REFUSED_PREPARED = Prepared(DIRECT_REFUSED)
# The ``posting`` of a direct conversation whose other member closed their account
# (services/closing.py): nobody would read a new message. The send path reads posting
# anyway (before and again under the conversation's lock), so this costs no query.
NOBODY_POSTS = "nobody"
# Either way: the primary key answers "whom did u block", the blocked_id index "who blocked u".
_HIDDEN_FROM = union(
    select(Block.blocked_id.label("uid")).where(Block.blocker_id == bindparam("p_uid")),
    select(Block.blocker_id.label("uid")).where(Block.blocked_id == bindparam("p_uid")),
)


def block(user: User, target_id: object) -> None:
    """Idempotent. Blocking yourself is a validation error; an unknown user is not_found."""
    target = _target(user, target_id)
    if db.session.get(Block, (user.id, target.id)) is not None:
        return
    db.session.add(Block(blocker_id=user.id, blocked_id=target.id))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another device of theirs blocked at the same moment


def unblock(user: User, target_id: object) -> None:
    """Idempotent: unblocking someone not blocked is done already."""
    target = _target(user, target_id)
    db.session.execute(delete(Block).where(Block.blocker_id == user.id, Block.blocked_id == target.id))
    db.session.commit()


def blocked_users(user: User) -> list[contract.User]:
    """Whom ``user`` blocked (not who blocked them: that is never told), most recent first.

    Rendered offline: the caller does not see a blocked user's presence."""
    rows = db.session.scalars(
        select(User).join(Block, Block.blocked_id == User.id).where(Block.blocker_id == user.id)
        .order_by(Block.created_at.desc(), User.id)
    )
    return [row.to_object(online=False) for row in rows]


def _target(user: User, target_id: object) -> User:
    tid = entity_id(target_id, "user_id")
    if tid == user.id:
        raise field_error("user_id", "you cannot block yourself")
    target = db.session.get(User, tid)
    if target is None:
        raise NotFound("no such user")
    return target


# ---------------------------------------------------------------- the checks the services call


def check_direct_send(connection: Connection, sender_id: int, direct_key: str) -> None:
    """Refuse a send in a direct conversation when either blocked the other
    (on the send's connection, as a prepared statement: chatapp/prepared.py)."""
    low, high = (int(part) for part in direct_key.split(":"))
    other = high if low == sender_id else low
    if _DIRECT_REFUSED_PREPARED.first(connection, {"p_uid": sender_id, "p_other": other}) is not None:
        refuse_direct_send()


def refuse_direct_send() -> None:
    """A generic ``forbidden``, the same whoever blocked whom (and for a closed account):
    the blocked user is not told."""
    raise Forbidden("you cannot send messages in this conversation")


def check_direct_open(user_id: int, other_id: int) -> None:
    """Refuse creating the direct conversation of a pair where either blocked the other."""
    if either_blocked(user_id, other_id):
        raise Forbidden("you cannot start a conversation with this user")


def either_blocked(a: int, b: int) -> bool:
    return db.session.connection().execute(DIRECT_REFUSED, {"p_uid": a, "p_other": b}).first() is not None


# Built once: it runs at every connect, disconnect and typing event, and building
# the subquery's columns cost more than the query (issue 16's connect profile).
HIDDEN_FROM_IDS = select(_HIDDEN_FROM.subquery().c.uid)


def hidden_from(user_id: int) -> set[int]:
    """Users whose presence and typing ``user_id`` must not see (and who must not see theirs)."""
    return set(db.session.connection().execute(HIDDEN_FROM_IDS, {"p_uid": user_id}).scalars())


def hidden_among(user_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each of ``user_ids``, the others of ``user_ids`` hidden from them (both
    directions): one query for a whole member list. Users without blocks are absent."""
    ids = sorted(set(user_ids))
    if len(ids) < 2:
        return {}
    hidden: dict[int, set[int]] = {}
    rows = db.session.execute(
        select(Block.blocker_id, Block.blocked_id).where(Block.blocker_id.in_(ids), Block.blocked_id.in_(ids))
    )
    for blocker, blocked in rows:
        hidden.setdefault(blocker, set()).add(blocked)
        hidden.setdefault(blocked, set()).add(blocker)
    return hidden
