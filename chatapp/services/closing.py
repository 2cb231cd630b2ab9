"""Closing an account (DELETE /me), and how it relates to ``flask chat deactivate``.

Deactivating (an operator's action, services/accounts.deactivate_user) stops a
user from logging in and disconnects them; everything else stays, and an operator
could switch them back on. Closing is the user's own and final: on top of that
the user leaves every group (ownership passes on as when an owner leaves), and
from then on reads as "Deleted user" wherever a User appears (models.user). Their
messages stay in the others' history; their direct conversations stay readable
but take no new messages (their ``posting`` is ``blocks.NOBODY_POSTS``). The username stays
taken: nobody can register it and appear as the author of the old messages.
"""

from __future__ import annotations

from sqlalchemy import select, update

from ..extensions import db
from ..models import Conversation, Membership, User
from ..models.conversation import DIRECT, GROUP
from ..timeutil import utcnow
from . import accounts, blocks, conversations, presence, profile
from .validation import string


def close_account(user: User, password: object, client_ip: str | None = None) -> None:
    """Close ``user``'s account after checking their password (wrong: 403 forbidden)."""
    secret = string(password, "password")
    assert secret is not None
    accounts.confirm_password(user, secret, client_ip)
    user_id = user.id
    # Everyone who shares a conversation now, groups included: once the groups are
    # left, only the direct conversations would still name them.
    contacts = presence.contacts_of(user_id)
    groups = list(db.session.scalars(
        select(Membership.conversation_id).join(Conversation, Conversation.id == Membership.conversation_id)
        .where(Membership.user_id == user_id, Conversation.type == GROUP).order_by(Membership.conversation_id)
    ))
    for cid in groups:
        # The leave service itself (one commit per group, members told, ownership handed
        # over); not rate-limited: closing leaves every group at once.
        conversations.remove_member(user, cid, user_id, rate_limited=False)
    closing = db.session.get_one(User, user_id)
    closing.active = False
    closing.closed_at = utcnow()
    # Their direct conversations stay readable and take no new messages.
    db.session.execute(
        update(Conversation).where(Conversation.id.in_(
            select(Membership.conversation_id).where(Membership.user_id == user_id)
        ), Conversation.type == DIRECT).values(posting=blocks.NOBODY_POSTS)
    )
    # Their direct conversations' member lists now show "Deleted user": new versions,
    # and user:updated (their own devices get it too, before they are disconnected).
    profile.announce(closing, also=contacts)
    # As `flask chat deactivate` does: tokens revoked, push devices forgotten, sockets closed.
    accounts.end_every_session(user_id, "account_closed")
    db.session.commit()
