"""Presence: online while any device of the user is connected, on any worker.

The truth lives in the shared state (Redis in a cluster), never in a
process-local dict. Going offline is debounced: the realtime layer calls
``settle_offline`` after a grace period, and only then is the event sent,
so a quick reconnect never flaps.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from flask import current_app
from sqlalchemy import bindparam, select

from ..contract import events as contract_events
from ..contract import objects as contract
from ..extensions import db
from ..models import Membership, User
from ..prepared import Prepared
from ..timeutil import iso, utcnow
from . import blocks, events
from .state import SharedState


def state() -> SharedState:
    return cast(SharedState, current_app.extensions["chat.state"])


def online_ids(user_ids: Iterable[int]) -> set[int]:
    return state().online_users(user_ids)


def visible_online_ids(viewer_id: int | None, user_ids: Iterable[int]) -> set[int]:
    """``online_ids`` as ``viewer_id`` may see them: a blocked pair see each other
    offline (services/blocks.py). ``None``: no viewer (the user's own view)."""
    online = online_ids(user_ids)
    if viewer_id is not None and online - {viewer_id}:
        online -= blocks.hidden_from(viewer_id)
    return online


def users_to_dicts(users: Iterable[User], viewer_id: int | None = None) -> list[dict[str, Any]]:
    users = list(users)
    online = visible_online_ids(viewer_id, (u.id for u in users))
    return [u.to_dict(online=u.id in online) for u in users]


def user_dict(user: User, viewer_id: int | None = None) -> dict[str, Any]:
    return user.to_dict(online=user.id in visible_online_ids(viewer_id, [user.id]))


def user_object(user: User, viewer_id: int | None = None) -> contract.User:
    return user.to_object(online=user.id in visible_online_ids(viewer_id, [user.id]))


# Built once (every connect and offline settles announce): building them per call
# cost more than running them.
_MINE = select(Membership.conversation_id).where(Membership.user_id == bindparam("p_uid"))
_CONTACTS = (
    select(Membership.user_id)
    .where(Membership.conversation_id.in_(_MINE), Membership.user_id != bindparam("p_uid"))
    .distinct()
)
# The contacts who may see the user's presence: a blocked pair sees none of the other's.
# Prepared (integers only): every first device's connect and every settled offline runs it.
_VISIBLE_CONTACTS = Prepared(_CONTACTS.where(Membership.user_id.not_in(blocks.HIDDEN_FROM_IDS)))


def contacts_of(user_id: int) -> list[int]:
    """Users who share at least one conversation with ``user_id``."""
    return list(db.session.connection().execute(_CONTACTS, {"p_uid": user_id}).scalars())


def connection_count(user_id: int) -> int:
    return state().presence_count(user_id)


def connect(user: User, conn_id: str) -> None:
    """Register a live socket. The first device announces the user online,
    unless the user never went offline (a reconnect within the grace period:
    they are still indexed, and a second "online" would be noise)."""
    cfg = current_app.config
    _count, fresh = state().presence_connect(user.id, conn_id, cfg["PRESENCE_TTL_SECONDS"])
    if fresh:
        _announce(user, online=True)


def disconnect(user_id: int, conn_id: str) -> bool:
    """Forget a socket; True when it was the user's last one (settle later)."""
    st = state()
    last = st.presence_remove(user_id, conn_id) == 0
    if last:
        # (Re)start the grace period: a debounce counts from the LAST
        # disconnect, so a flaky device that drops again just before an
        # earlier timer fires does not go offline early (see settle_after_grace).
        # While the key lives, the crash sweep leaves this user alone too.
        st.release(f"grace:{user_id}")
        st.acquire(f"grace:{user_id}", grace_seconds())
    return last


def grace_seconds() -> float:
    return cast(float, current_app.config["PRESENCE_OFFLINE_GRACE_SECONDS"])


def settle_after_grace(user_id: int) -> bool:
    """The timer started by a last-device disconnect, ``grace_seconds()`` later.

    If a later disconnect restarted the grace period, its own timer settles
    (the key is still held); otherwise settle now.
    """
    if not state().acquire(f"grace:{user_id}", 0.01):
        return False
    return settle_offline(user_id)


def settle_offline(user_id: int) -> bool:
    """After the grace period: if still no device is connected, record
    ``last_seen_at`` and announce offline. Returns whether it did."""
    st = state()
    if st.presence_count(user_id) > 0:
        return False
    # One worker announces (the timer and a crash sweep may race).
    if not st.acquire(f"settle:{user_id}", 5.0):
        return False
    try:
        if not st.presence_forget(user_id):
            return False  # already settled: announce offline once
        if st.presence_count(user_id) > 0:
            # A device connected between the check and the forget; it saw the user
            # indexed and announced nothing, so keep them indexed and stay silent.
            st.presence_claim(user_id)
            return False
        user = db.session.get(User, user_id)
        if user is None:
            return False
        user.last_seen_at = utcnow()
        db.session.commit()
        _announce(user, online=False)
        if st.presence_count(user_id) > 0:
            # A device connected while we announced offline (its own "online"
            # may have gone out before ours): the last word must be online.
            st.presence_claim(user_id)
            _announce(user, online=True)
        return True
    finally:
        # Released, not left to expire: a short grace (tests) may settle again soon.
        st.release(f"settle:{user_id}")


def heartbeat(entries: list[tuple[int, str]]) -> None:
    state().presence_refresh(entries, current_app.config["PRESENCE_TTL_SECONDS"])


def sweep_expired() -> list[int]:
    """Settle users whose connections all expired (their worker died)."""
    settled = []
    st = state()
    for user_id in st.presence_index():
        if st.presence_count(user_id) > 0:
            continue
        # acquire() fails while a graceful disconnect's grace period runs.
        if st.acquire(f"grace:{user_id}", 0.01) and settle_offline(user_id):
            settled.append(user_id)
    return settled


def _announce(user: User, *, online: bool) -> None:
    payload = contract_events.Presence(user_id=user.id, online=online, last_seen_at=iso(user.last_seen_at))
    # Neither of a blocked pair gets the other's presence (services/blocks.py): one query.
    contacts = [uid for (uid,) in _VISIBLE_CONTACTS.all(db.session.connection(), {"p_uid": user.id})]
    events.publish_now(payload, users=contacts)
