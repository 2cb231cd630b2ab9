"""v2 mentions: which members a message names as ``@username``.

Parsed on send and on every edit (a mention follows the current text). Only
members count: naming a stranger mentions nobody and reveals nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, delete, func, insert, select

from ..extensions import db
from ..models import Membership, MessageMention, User

# "@" not preceded by a word character or another "@" (so "a@b.com" is an
# address, not a mention), then a username ([a-z0-9_.-]{3,32}). A trailing dot
# is usually punctuation ("thanks @bob."), but may end a name: both are looked up.
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]{3,32})")
# More candidates than this in one body are not looked up (a body of 4000
# characters holds at most ~1000 "@abc" tokens; bounding the IN list bounds the query).
MAX_CANDIDATES = 50

_MEMBERS_NAMED = (
    select(Membership.user_id)
    .join(User, User.id == Membership.user_id)
    .where(
        Membership.conversation_id == bindparam("p_cid"),
        User.username.in_(bindparam("p_names", expanding=True)),  # stored lower-cased
    )
    .order_by(Membership.user_id)
)


def candidates(body: str) -> list[str]:
    """The distinct lower-cased names after ``@`` in ``body`` (in order of appearance)."""
    if "@" not in body:  # the common case costs one scan, no regex
        return []
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(body):
        name = match.group(1).lower()
        for candidate in (name, name.rstrip(".")):
            if len(candidate) >= 3:
                seen.setdefault(candidate, None)
        if len(seen) >= MAX_CANDIDATES:
            break
    return list(seen)


def members_named(conversation_id: int, body: str) -> list[int]:
    """User ids of the conversation's members that ``body`` names, ascending."""
    names = candidates(body)
    if not names:
        return []
    rows = db.session.connection().execute(_MEMBERS_NAMED, {"p_cid": conversation_id, "p_names": names})
    return [uid for (uid,) in rows]


_INSERT = insert(MessageMention)


def record(conversation_id: int, message_id: int, seq: int, user_ids: list[int]) -> None:
    """The counting rows of one message's mentions (in the caller's transaction)."""
    if user_ids:
        db.session.connection().execute(
            _INSERT,
            [{"conversation_id": conversation_id, "user_id": uid, "seq": seq, "message_id": message_id}
             for uid in user_ids],
        )


def forget(message_id: int) -> None:
    db.session.execute(delete(MessageMention).where(MessageMention.message_id == message_id))


def count_unread(conversation_id: int, user_id: int, after_seq: int) -> int:
    """Mentions of ``user_id`` after ``after_seq`` (rows exist only for live messages)."""
    return db.session.scalar(
        select(func.count()).where(
            MessageMention.conversation_id == conversation_id,
            MessageMention.user_id == user_id,
            MessageMention.seq > after_seq,
        )
    ) or 0
