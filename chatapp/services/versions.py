"""Conversation versions: one number per conversation that every visible change raises.

Why a row update and not a sequence: the ``UPDATE conversations SET version =
version + 1 ... RETURNING`` takes the conversation's row lock (PostgreSQL) or
the database write lock (SQLite) and holds it until commit. So

- versions of one conversation commit in the order they were allocated: a
  reader that saw version N has seen every change numbered N or less (no
  transaction with a lower number can commit after it);
- a rollback returns the number (gapless per conversation, which lets a client
  tell from a live event's version whether it missed one);
- every change of a conversation is serialised behind that lock, so a service
  that re-reads what it is about to change *after* ``bump`` sees the last
  committed state (two deletes of one message, an edit racing a delete, two
  members leaving at once cannot both act on a stale read).

Services call ``bump`` first, before touching anything else of the
conversation, and always lock in the same order (conversation, then its
memberships and messages) so that concurrent changes never deadlock.
"""

from __future__ import annotations

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import Conversation

_BUMP = (
    update(Conversation)
    .where(Conversation.id == bindparam("p_cid"))
    .values(version=Conversation.version + bindparam("p_by"))
    .returning(Conversation.version)
    .execution_options(synchronize_session=False)
)


def bump(conversation_id: int, *, by: int = 1) -> int:
    """Lock the conversation for this transaction and allocate its next version
    (``by`` > 1: the next ``by`` versions, returning the last of them)."""
    version = db.session.execute(_BUMP, {"p_cid": conversation_id, "p_by": by}).scalar_one()
    loaded = db.session.identity_map.get(db.session.identity_key(Conversation, conversation_id))
    if loaded is not None:
        # Keep an already-loaded object truthful without marking it dirty.
        set_committed_value(loaded, "version", version)
    return version


def lock(conversation: Conversation) -> int:
    """``bump``, then reload the conversation and its memberships: what the caller
    decides from now on is decided on committed state, under the lock."""
    version = bump(conversation.id)
    # Expired objects reload on next access from rows read under the lock
    # (a membership another transaction added or removed meanwhile included).
    for membership in conversation.memberships:
        db.session.expire(membership)
    db.session.expire(conversation)
    return version
