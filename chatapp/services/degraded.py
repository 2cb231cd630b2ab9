"""Keep chatting while Redis is down.

The database is the source of truth; Redis holds only expiring helpers
(presence, throttles, rate limits). When Redis fails, each helper answers a
safe default instead of turning a send into an error: rate limits fail open,
throttles fail closed (a typing event is dropped), presence looks empty, and
the heartbeat sweep heals presence once Redis is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from ..metrics import SHED

log = logging.getLogger(__name__)

# What each SharedState method answers while Redis is unreachable.
FALLBACKS: dict[str, Any] = {
    "acquire": False,
    "release": None,
    "take_token": 0.0,
    "presence_add": 0,
    "presence_connect": (0, False),
    "presence_claim": False,
    "presence_remove": 1,
    "presence_refresh": None,
    "presence_count": 0,
    "presence_index": frozenset(),
    "presence_forget": None,
    "online_users": frozenset(),
    "ping": False,
}
# One warning per this many seconds, not one per call (log amplification).
LOG_EVERY_SECONDS = 10.0


class DegradableState:
    """Wraps a Redis-backed state; a RedisError becomes the method's fallback."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._last_log = 0.0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in FALLBACKS or not callable(attribute):
            return attribute
        return self._guard(name, attribute)

    def _guard(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except redis.RedisError as exc:
                SHED.labels("redis_unavailable").inc()
                now = time.monotonic()
                if now - self._last_log > LOG_EVERY_SECONDS:
                    self._last_log = now
                    log.warning("Redis unavailable (%s): degraded %s", type(exc).__name__, name)
                fallback = FALLBACKS[name]
                return set(fallback) if isinstance(fallback, frozenset) else fallback

        return call
