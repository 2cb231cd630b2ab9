"""One real server per database for the race tests, and the people who race on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.security.live import DATABASES, live_server

from .harness import Invariants, Person, Watcher, person

# Rounds per pair. The reproductions in issue 11 failed 4 to 15 times in 10 to
# 20 trials; at the lowest of those rates (4 in 10) ten clean rounds would
# happen by chance 0.6% of the time. CHAT_RACE_ROUNDS=100 for a longer hunt.
ROUNDS = int(os.environ.get("CHAT_RACE_ROUNDS", "10"))

# The races must be decided by the services, not dodged by a limit: every
# per-user rate is lifted (the limits have their own tests, tests/services/test_limits.py).
UNLIMITED = {
    f"CHAT_RATE_{name}_BURST": "1000000"
    for name in ("MESSAGES", "EDIT", "MEMBERSHIP", "LOGIN", "REACTION", "GROUP_CHANGE")
}
# The servers' async mode (eventlet, as `make run`); CHAT_RACE_ASYNC_MODE=threading or gevent to hunt there.
ASYNC_MODE = os.environ.get("CHAT_RACE_ASYNC_MODE", "eventlet")
# Small enough for a race for the last place; the other races' groups stay within it.
MEMBER_CAP = 5
# Password hashing is not what races here: the cheapest Argon2 for the few accounts.
CHEAP_HASHES = {"CHAT_ARGON2_TIME_COST": "1", "CHAT_ARGON2_MEMORY_KIB": "1024"}


@dataclass
class World:
    """A server, its database, and the people in every race: alice (the groups'
    owner, two devices), bob (two devices), dora (made admin where a race needs
    one), erin and fay (added and removed), walt (watches every group)."""

    database: str
    invariants: Invariants
    watcher: Watcher
    alice: Person
    bob: Person
    dora: Person
    erin: Person
    fay: Person
    walt: Person


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory) -> Iterator[World]:
    with live_server(tmp_path_factory.mktemp("races"), async_mode=ASYNC_MODE, database=request.param,
                     CHAT_MAX_GROUP_MEMBERS=str(MEMBER_CAP), **UNLIMITED, **CHEAP_HASHES) as server:
        walt = person(server)
        marker = person(server, sockets=False)
        invariants = Invariants(server)
        people = {
            "alice": person(server, devices=2), "bob": person(server, devices=2), "dora": person(server),
            "erin": person(server, sockets=False), "fay": person(server, sockets=False), "walt": walt,
        }
        try:
            yield World(request.param, invariants, Watcher(walt, marker), **people)
        finally:
            invariants.close()
            for someone in people.values():
                for device in someone.devices:
                    device.close()
