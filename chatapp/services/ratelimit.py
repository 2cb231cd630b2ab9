"""Rate limits (token buckets in the shared state, so a cluster counts once)."""

from __future__ import annotations

from flask import current_app

from .errors import RateLimited
from .state import SharedState


def _state() -> SharedState:
    return current_app.extensions["chat.state"]


def check_message(user_id: int) -> None:
    cfg = current_app.config
    wait = _state().take_token(f"msg:{user_id}", cfg["RATE_MESSAGES_BURST"], cfg["RATE_MESSAGES_PER_SECOND"])
    if wait > 0:
        raise RateLimited("too many messages, slow down", retry_after=wait)


def check_login(username: str, client_ip: str | None) -> None:
    """Throttle password guessing per account and per source address."""
    cfg = current_app.config
    burst, rate = cfg["RATE_LOGIN_BURST"], cfg["RATE_LOGIN_PER_SECOND"]
    keys = [f"login-user:{username[:64]}"] + ([f"login-ip:{client_ip}"] if client_ip else [])
    for key in keys:
        # The per-IP bucket is larger: several people may share one NAT.
        scale = 5 if key.startswith("login-ip:") else 1
        wait = _state().take_token(key, burst * scale, rate * scale)
        if wait > 0:
            raise RateLimited("too many login attempts", retry_after=wait)
