"""Typing indicators: relayed, throttled, never persisted."""

from __future__ import annotations

from flask import current_app

from ..contract import events as contract_events
from ..models import User
from . import blocks, events
from .conversations import get_member, member_ids
from .state import SharedState
from .validation import boolean


def set_typing(user: User, conversation_id: object, typing: object) -> bool:
    """Relay to the other members; returns whether an event was sent.

    At most one ``typing: true`` per user and conversation per throttle
    window is relayed (clients fire it on every keystroke), and a stop does
    not reopen the window: otherwise true/false/true would relay every start.
    ``false`` is relayed when it ends a start the others saw and that has not
    expired yet, so the indicator clears promptly and repeated stops cost nothing.
    """
    flag = boolean(typing, "typing")
    conversation, _ = get_member(user, conversation_id)
    cfg = current_app.config
    state: SharedState = current_app.extensions["chat.state"]
    throttle_key = f"typing:{conversation.id}:{user.id}"
    shown_key = f"typing-shown:{conversation.id}:{user.id}"
    expires_ms = cfg["TYPING_EXPIRES_MS"]
    if flag:
        if not state.acquire(throttle_key, cfg["TYPING_THROTTLE_SECONDS"]):
            return False
        # The others show the indicator until expires_in_ms: remember that long.
        state.release(shown_key)
        state.acquire(shown_key, expires_ms / 1000)
    else:
        # Held (acquire fails) while a relayed start is still shown.
        if state.acquire(shown_key, 0.001):
            return False
        state.release(shown_key)
    # Neither of a blocked pair sees the other type (services/blocks.py).
    hidden = blocks.hidden_from(user.id)
    others = [uid for uid in member_ids(conversation) if uid != user.id and uid not in hidden]
    payload = contract_events.Typing(
        conversation_id=conversation.id, user_id=user.id, typing=flag, expires_in_ms=expires_ms if flag else 0
    )
    events.publish_now(payload, users=others)
    return True
