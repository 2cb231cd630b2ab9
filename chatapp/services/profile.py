"""A user's profile as others see it: the display name, and telling contacts of a change.

A User appears inside every Conversation's ``members``, so a change to how a user
reads (a new display name, a closed account) is a change of each of their
conversations: each gets a new version (services/versions.py), so ``sync``
reports it to a device that was offline, and ``user:updated`` carries those
versions to the connected ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ..contract import events as contract_events
from ..extensions import db
from ..models import Membership, User
from . import accounts, blocks, events, presence, ratelimit, versions


def update_display_name(user: User, display_name: object) -> dict[str, object]:
    """PATCH /me. The same name again changes nothing and tells nobody."""
    shown = accounts.parse_display_name(display_name)
    if shown != user.display_name:
        ratelimit.check_profile(user.id)
        user.display_name = shown
        announce(user)
        db.session.commit()
    return presence.user_dict(user)


def announce(user: User, also: Iterable[int] = ()) -> None:
    """Raise the version of each of the user's conversations, and queue ``user:updated``
    for every user who shares one (each once) and for the user's own devices, each
    with the new versions of the conversations they share; ``also``: users who shared
    one until just now (a closed account's former groups), told with no versions.
    Call before committing."""
    mine = list(db.session.scalars(
        select(Membership.conversation_id).where(Membership.user_id == user.id).order_by(Membership.conversation_id)
    ))
    # Ascending ids: two renames at once lock their shared conversations in one order.
    new_versions = {cid: versions.bump(cid) for cid in mine}
    shared: dict[int, dict[str, int]] = {user.id: {}}
    if mine:
        rows = db.session.execute(
            select(Membership.user_id, Membership.conversation_id).where(Membership.conversation_id.in_(mine))
        )
        for uid, cid in rows:
            shared.setdefault(uid, {})[str(cid)] = new_versions[cid]
    for uid in also:
        shared.setdefault(uid, {})
    online = not user.closed and bool(presence.online_ids([user.id]))
    hidden = blocks.hidden_from(user.id) if online else set()
    for uid, shared_versions in shared.items():
        shown = user.to_object(online=online and uid not in hidden)
        events.on_commit(contract_events.UserUpdated(user=shown, versions=shared_versions), users=[uid])
