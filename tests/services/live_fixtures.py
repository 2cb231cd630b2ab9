"""Fixtures for the live-feature service tests (tests/services/test_live_*.py).

The services run for real on the test database; only the last hop (the
Socket.IO emit) is replaced by a recorder, so a test can read exactly which
events a domain action published, to whom, and only after commit.
The end-to-end tests (tests/e2e/test_live_e2e.py) prove the same over real sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from chatapp.services.events import Event
from chatapp.services.state import MemoryState, RedisState
from tests.support.services import REDIS_URL, scratch_redis_prefix


@dataclass
class Recorder:
    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def to(self, user_id: int, name: str | None = None) -> list[dict]:
        """Payloads that the devices of ``user_id`` received."""
        return [e.payload for e in self.events if user_id in e.users and (name is None or e.name == name)]

    def names_to(self, user_id: int) -> list[str]:
        return [e.name for e in self.events if user_id in e.users]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def published(app) -> Recorder:
    """Replace the Socket.IO emit with a recorder of every published event."""
    recorder = Recorder()
    app.extensions["chat.publisher"] = recorder
    return recorder


@pytest.fixture(params=["memory", "redis"])
def state_backend(request, app) -> Iterator[str]:
    """Run a test on both shared-state backends (Redis under a scratch key prefix)."""
    if request.param == "memory":
        app.extensions["chat.state"] = MemoryState()
        yield "memory"
        return
    with scratch_redis_prefix() as prefix:
        state = RedisState(REDIS_URL, prefix)
        app.extensions["chat.state"] = state
        yield "redis"
        state.redis.close()
