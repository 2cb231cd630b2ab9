"""Presence: online while any device is connected, offline only after the
last one left and the grace period passed; on both shared-state backends."""

from __future__ import annotations

import time

import pytest

from chatapp.extensions import db
from chatapp.models import User
from chatapp.services import accounts, conversations, presence
from tests.services.live_fixtures import published, state_backend  # noqa: F401

# serial: grace and TTL windows of a few hundred ms; alone, after the parallel phase (docs/testing.md).
pytestmark = pytest.mark.serial

GRACE = 0.3


@pytest.fixture
def people(app, make_user, state_backend):  # noqa: F811
    """alice and bob share a direct conversation; carol shares nothing with alice."""
    app.config["PRESENCE_OFFLINE_GRACE_SECONDS"] = GRACE
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    carol, _ = make_user("carol")
    conversations.open_direct(alice, bob.id)
    return alice, bob, carol


def presence_events(recorder, about: int) -> list[dict]:
    return [e.payload for e in recorder.named("presence") if e.payload["user_id"] == about]


def wait_grace() -> None:
    time.sleep(GRACE + 0.05)


def test_online_while_any_device_remains_and_offline_after_the_last(people, published):  # noqa: F811
    alice, bob, carol = people
    presence.connect(alice, "phone")
    presence.connect(alice, "laptop")
    assert presence_events(published, alice.id) == [{"user_id": alice.id, "online": True, "last_seen_at": None}]
    assert presence.online_ids([alice.id]) == {alice.id}

    assert presence.disconnect(alice.id, "phone") is False  # the laptop remains
    assert presence.online_ids([alice.id]) == {alice.id}
    assert presence.settle_offline(alice.id) is False
    assert len(presence_events(published, alice.id)) == 1

    assert presence.disconnect(alice.id, "laptop") is True
    wait_grace()
    assert presence.settle_after_grace(alice.id) is True
    offline = presence_events(published, alice.id)[-1]
    db.session.refresh(alice)
    assert offline["online"] is False
    assert alice.last_seen_at is not None and offline["last_seen_at"] == presence.iso(alice.last_seen_at)
    assert presence.online_ids([alice.id]) == set()
    assert presence.user_dict(alice)["online"] is False


def test_presence_goes_only_to_users_who_share_a_conversation(people, published):  # noqa: F811
    alice, bob, carol = people
    presence.connect(alice, "phone")
    [event] = published.named("presence")
    assert event.users == (bob.id,)  # not carol, not alice herself
    published.clear()
    presence.disconnect(alice.id, "phone")
    wait_grace()
    presence.settle_after_grace(alice.id)
    assert [e.users for e in published.named("presence")] == [(bob.id,)]


def test_a_reconnect_within_the_grace_does_not_flap(people, published):  # noqa: F811
    alice, _, _ = people
    presence.connect(alice, "phone")
    presence.disconnect(alice.id, "phone")
    presence.connect(alice, "phone-again")
    wait_grace()
    assert presence.settle_after_grace(alice.id) is False
    # One "online", no "offline", and no second "online" for the reconnect.
    assert [e["online"] for e in presence_events(published, alice.id)] == [True]


def test_the_grace_period_counts_from_the_last_disconnect(people, published):  # noqa: F811
    alice, _, _ = people
    presence.connect(alice, "phone")
    presence.disconnect(alice.id, "phone")  # timer 1 starts
    time.sleep(GRACE * 0.7)
    presence.connect(alice, "phone")
    presence.disconnect(alice.id, "phone")  # timer 2 starts: restarts the grace
    time.sleep(GRACE * 0.4)
    # Timer 1 fires: only 0.4 grace since the last disconnect, so it yields to timer 2.
    assert presence.settle_after_grace(alice.id) is False
    assert [e["online"] for e in presence_events(published, alice.id)] == [True]
    time.sleep(GRACE * 0.7)
    assert presence.settle_after_grace(alice.id) is True
    assert [e["online"] for e in presence_events(published, alice.id)] == [True, False]


def test_offline_is_announced_once_when_timer_and_sweep_race(people, published):  # noqa: F811
    alice, _, _ = people
    presence.connect(alice, "phone")
    presence.disconnect(alice.id, "phone")
    wait_grace()
    results = [presence.settle_after_grace(alice.id), presence.sweep_expired(), presence.settle_offline(alice.id)]
    assert results == [True, [], False]
    assert [e["online"] for e in presence_events(published, alice.id)] == [True, False]


def test_online_event_carries_the_previous_last_seen_at(people, published):  # noqa: F811
    alice, _, _ = people
    presence.connect(alice, "phone")
    presence.disconnect(alice.id, "phone")
    wait_grace()
    presence.settle_after_grace(alice.id)
    db.session.refresh(alice)
    seen = presence.iso(alice.last_seen_at)
    presence.connect(alice, "phone")
    back = presence_events(published, alice.id)[-1]
    assert back == {"user_id": alice.id, "online": True, "last_seen_at": seen}


def test_a_dead_workers_connections_expire_and_the_sweep_settles_them(people, published, app):  # noqa: F811
    alice, _, _ = people
    app.config["PRESENCE_TTL_SECONDS"] = 0.2
    presence.connect(alice, "on-a-worker-that-was-killed")
    assert presence.online_ids([alice.id]) == {alice.id}
    time.sleep(0.3)  # no heartbeat refreshed it: the worker is gone
    assert presence.online_ids([alice.id]) == set()
    assert presence.sweep_expired() == [alice.id]
    assert [e["online"] for e in presence_events(published, alice.id)] == [True, False]


def test_heartbeat_keeps_live_connections_beyond_their_ttl(people, app):
    alice, _, _ = people
    app.config["PRESENCE_TTL_SECONDS"] = 0.3
    presence.connect(alice, "phone")
    for _ in range(3):
        time.sleep(0.15)
        presence.heartbeat([(alice.id, "phone")])
    assert presence.online_ids([alice.id]) == {alice.id}
    assert presence.sweep_expired() == []


def test_user_objects_carry_online_and_last_seen_at_everywhere(people):
    alice, bob, _ = people
    presence.connect(bob, "phone")
    [found] = [u for u in accounts.search_users(alice, "bob", None)]
    assert found["online"] is True and "last_seen_at" in found
    listed, _ = conversations.list_conversations(alice, None, None)
    members = {m["id"]: m for m in listed[0]["members"]}
    assert members[bob.id]["online"] is True and members[alice.id]["online"] is False
    assert set(members[bob.id]) == {"id", "username", "display_name", "online", "last_seen_at"}
    assert presence.user_dict(db.session.get(User, bob.id))["online"] is True
