"""Rate limits (token buckets in the shared state, so a cluster counts once)."""

from __future__ import annotations

from typing import cast

from flask import current_app

from .errors import RateLimited
from .state import SharedState


def _state() -> SharedState:
    return cast(SharedState, current_app.extensions["chat.state"])


def check_message(user_id: int) -> None:
    cfg = current_app.config
    wait = _state().take_token(f"msg:{user_id}", cfg["RATE_MESSAGES_BURST"], cfg["RATE_MESSAGES_PER_SECOND"])
    if wait > 0:
        raise RateLimited("too many messages, slow down", retry_after=wait)


def check_login(username: str, client_ip: str | None) -> None:
    """Throttle password guessing per source address and per account-and-address.

    Never per account alone: then a stranger's wrong guesses would lock the
    real user out (their right password answering 429). Guessing one account
    from many addresses is slowed by each address's own bucket.
    """
    cfg = current_app.config
    burst, rate = cfg["RATE_LOGIN_BURST"], cfg["RATE_LOGIN_PER_SECOND"]
    address = client_ip or "unknown"
    # The per-address bucket is larger: several people may share one NAT.
    for key, scale in ((f"login-ip:{address}", 5), (f"login-user-ip:{username[:64]}|{address}", 1)):
        wait = _state().take_token(key, burst * scale, rate * scale)
        if wait > 0:
            raise RateLimited("too many login attempts", retry_after=wait)


def check_register(client_ip: str | None) -> None:
    """Accounts created per source address: each costs an Argon2 hash and a row."""
    cfg = current_app.config
    key = f"register-ip:{client_ip or 'unknown'}"
    wait = _state().take_token(key, cfg["RATE_REGISTER_BURST"], cfg["RATE_REGISTER_PER_SECOND"])
    if wait > 0:
        raise RateLimited("too many accounts created from this address", retry_after=wait)


def check_edit(user_id: int) -> None:
    """Edits are broadcast to every member like sends: the same person's pace."""
    _check_action(user_id, "edit", "too many edits, slow down")


def check_membership(user_id: int) -> None:
    """Joins and leaves each reach every member of the group (member:joined/left)."""
    _check_action(user_id, "membership", "too many joins and leaves, slow down")


def check_reaction(user_id: int) -> None:
    """Adding and removing a reaction each reach every member (message:updated)."""
    _check_action(user_id, "reaction", "too many reactions, slow down")


def check_group_change(user_id: int) -> None:
    """Renames, settings and roles: each tells every member the whole conversation."""
    _check_action(user_id, "group_change", "too many changes to the group, slow down")


def check_profile(user_id: int) -> None:
    """v2: a display-name change reaches every contact and every conversation of the user."""
    _check_action(user_id, "profile", "too many profile changes, slow down")


def check_report(user_id: int) -> None:
    """v2: message reports are read by a person (flask chat reports)."""
    _check_action(user_id, "report", "too many reports, slow down")


def _check_action(user_id: int, action: str, message: str) -> None:
    cfg = current_app.config
    key = action.upper()
    wait = _state().take_token(f"{action}:{user_id}", cfg[f"RATE_{key}_BURST"], cfg[f"RATE_{key}_PER_SECOND"])
    if wait > 0:
        raise RateLimited(message, retry_after=wait)
