"""v2: one member's notification settings in one conversation (level and mute).

Settings change what is pushed, never unread counts. They are the member's own:
the change goes to that user's devices only (``conversation:updated``), and takes
the conversation's next version like every change a member can see, so a device
that was offline learns of it from ``sync``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..contract import events as contract_events
from ..contract.limits import NOTIFICATION_LEVELS
from ..extensions import db
from ..models import User
from ..timeutil import utcnow
from . import events, ratelimit, versions
from .conversations import find_membership, get_member, to_dict, to_object
from .errors import NotFound, field_error
from .validation import MISSING, choice, string

# Far enough for "always" (the client's "mute forever" sends a time this far or
# farther); later times are stored as this bound so every database stores them.
MUTE_LIMIT = datetime(9999, 1, 1)


def parse_time(value: object, field: str) -> datetime | None:
    """An ISO 8601 time with a zone (``Z`` or an offset) as naive UTC; null is None."""
    if value is None:
        return None
    raw = string(value, field)
    assert raw is not None
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise field_error(field, "an ISO 8601 time such as 2026-12-01T18:00:00.000Z") from None
    if parsed.tzinfo is None:
        raise field_error(field, "a time with a zone (Z or +hh:mm)")
    naive = parsed.astimezone(UTC).replace(tzinfo=None)
    return min(naive.replace(microsecond=naive.microsecond - naive.microsecond % 1000), MUTE_LIMIT)


def update_settings(user: User, conversation_id: object, notifications: object, muted_until: object) -> dict[str, Any]:
    """``PATCH /conversations/<id>/settings``: an absent (MISSING) field stays as it is.
    A mute time already past is stored as "not muted"."""
    conversation, member = get_member(user, conversation_id)
    level = choice(notifications, "notifications", NOTIFICATION_LEVELS, member.notifications)
    mute = member.muted_until if muted_until is MISSING else parse_time(muted_until, "muted_until")
    if mute is not None and mute <= utcnow():
        mute = None
    if level == member.notifications and mute == member.muted_until:
        return to_dict(conversation, user.id)  # nothing changes: no version, no event
    ratelimit.check_group_change(user.id)
    versions.lock(conversation)
    locked = find_membership(conversation, user.id)
    if locked is None:
        raise NotFound("no such conversation")
    locked.notifications = level
    locked.muted_until = mute
    db.session.flush()
    updated = contract_events.ConversationUpdated(conversation=to_object(conversation, user.id))
    data: dict[str, Any] = events.on_commit(updated, users=[user.id])["conversation"]
    db.session.commit()
    return data
