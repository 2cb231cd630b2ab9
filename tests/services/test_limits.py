"""Limits that must hold (issue 11, class 4), at the service level on both databases.

- the member cap counts the creator and holds on create, join and add;
- one join costs events and bytes proportional to the members, never members x members;
- reactions per person per message and distinct reactions per message are capped;
- edits and joins/leaves are rate-limited per person (``rate_limited`` with ``retry_after``).

A refused action stores nothing and announces nothing. Each test mirrors what the
REST and socket handlers do after a domain error: roll the transaction back.
"""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy import func, insert, select

from chatapp.extensions import db
from chatapp.models import Conversation, Membership, Message, Reaction, User
from chatapp.services import conversations, messaging
from chatapp.services.errors import ChatError
from chatapp.services.validation import MISSING
from tests.services.live_fixtures import published  # noqa: F401

_keys = itertools.count(1)


def attempt(fn, *args, **kw):
    """Call a service the way a handler does: a domain error rolls back and is returned as its code."""
    try:
        return fn(*args, **kw)
    except ChatError as exc:
        db.session.rollback()
        return exc


def code(result) -> str:
    return result.code if isinstance(result, ChatError) else "ok"


def send(user, cid: int, body: str = "hi") -> dict:
    return messaging.send_message(user, cid, body, f"l{next(_keys)}")[0]


def members_of(cid: int) -> set[int]:
    return set(db.session.scalars(select(Membership.user_id).where(Membership.conversation_id == cid)))


def bulk_users(count: int, prefix: str) -> list[int]:
    """Users without an Argon2 hash each (they never log in): a thousand in one INSERT."""
    rows = [{"username": f"{prefix}{i}", "display_name": f"Member {i}", "password_hash": "-"} for i in range(count)]
    db.session.execute(insert(User), rows)
    db.session.commit()
    return list(db.session.scalars(select(User.id).where(User.username.like(f"{prefix}%")).order_by(User.id)))


# ---------------------------------------------------------------- the member cap


@pytest.fixture
def cap_of_three(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_GROUP_MEMBERS", 3)


def test_five_joins_at_a_cap_of_three_fill_the_room_and_stop(cap_of_three, make_user, published):  # noqa: F811
    owner = make_user()[0]
    cid = conversations.create_group(owner, "room", [], "public")["id"]
    joiners = [make_user()[0] for _ in range(5)]
    published.clear()
    results = [code(attempt(conversations.join, user, cid)) for user in joiners]
    assert results == ["ok", "ok", "validation_error", "validation_error", "validation_error"]
    assert members_of(cid) == {owner.id, joiners[0].id, joiners[1].id}
    joined = [e.payload["user"]["id"] for e in published.named("member:joined")]
    assert joined == [joiners[0].id, joiners[1].id]  # the refused joins announced nothing


def test_create_group_counts_the_creator(cap_of_three, make_user, published):  # noqa: F811
    owner, *others = (make_user()[0] for _ in range(4))
    refused = attempt(conversations.create_group, owner, "four", [u.id for u in others])
    assert code(refused) == "validation_error" and "member_ids" in refused.envelope()["error"]["fields"]
    assert db.session.scalar(select(func.count(Conversation.id))) == 0
    assert published.events == []
    # The creator's own id among them is not counted twice.
    made = conversations.create_group(owner, "three", [owner.id, others[0].id, others[1].id])
    assert len(made["members"]) == 3


def test_add_member_at_the_cap_is_refused(cap_of_three, make_user):
    owner, a, b, c = (make_user()[0] for _ in range(4))
    cid = conversations.create_group(owner, "team", [a.id, b.id])["id"]
    assert code(attempt(conversations.add_member, owner, cid, c.id)) == "validation_error"
    assert members_of(cid) == {owner.id, a.id, b.id}


# ---------------------------------------------------------------- the join fan-out


def _cost_of_one_join(make_user, published, members: int, prefix: str) -> tuple[int, int]:  # noqa: F811
    """(events built, bytes of JSON built) for one join of a public group of ``members`` members."""
    owner = make_user()[0]
    cid = conversations.create_group(owner, "big room", [], "public")["id"]
    others = bulk_users(members - 1, prefix)
    rows = [{"conversation_id": cid, "user_id": uid, "role": "member"} for uid in others]
    db.session.execute(insert(Membership), rows)
    db.session.commit()
    db.session.expire_all()
    newcomer = make_user()[0]
    published.clear()
    conversations.join(newcomer, cid)
    # Each event is serialised once and delivered to its audience (one room per user).
    return len(published.events), sum(len(json.dumps(e.payload)) for e in published.events)


def test_one_join_does_not_cost_members_times_members(app, make_user, published, monkeypatch):  # noqa: F811
    """Issue 11: one join of a 1,000-member group built 1,001 events and 154 MB of JSON."""
    monkeypatch.setitem(app.config, "MAX_GROUP_MEMBERS", 5000)
    small_events, small_bytes = _cost_of_one_join(make_user, published, 200, "bulk-s-")
    big_events, big_bytes = _cost_of_one_join(make_user, published, 1000, "bulk-b-")
    assert big_events <= 3, [e.name for e in published.events]  # member:joined, the newcomer's conversation:new
    assert big_events == small_events
    # Five times the members, about five times the bytes (the newcomer's member list): linear, not quadratic.
    assert big_bytes < 6 * small_bytes, (small_bytes, big_bytes)
    assert big_bytes < 1_000_000, big_bytes
    joined = published.named("member:joined")
    assert len(joined) == 1 and len(joined[0].users) == 1001  # still every member hears of it, in one event


def test_below_the_fanout_limit_every_member_gets_the_new_list(app, make_user, published):  # noqa: F811
    owner, a, b, newcomer = (make_user()[0] for _ in range(4))
    cid = conversations.create_group(owner, "small room", [a.id, b.id], "public")["id"]
    published.clear()
    conversations.join(newcomer, cid)
    updated = published.named("conversation:updated")
    assert sorted(u for e in updated for u in e.users) == sorted([owner.id, a.id, b.id])
    assert all(len(e.payload["conversation"]["members"]) == 4 for e in updated)


# ---------------------------------------------------------------- reactions


def test_one_person_cannot_pile_1500_reactions_on_a_message(app, make_user, published):  # noqa: F811
    author, reactor = make_user()[0], make_user()[0]
    cid = conversations.create_group(author, "team", [reactor.id])["id"]
    message = send(author, cid)
    version = db.session.get(Message, message["id"]).version
    cap = app.config["MAX_REACTIONS_PER_USER"]
    published.clear()
    results = [code(attempt(messaging.react, reactor, message["id"], f"e{i}", add=True)) for i in range(1500)]
    assert results == ["ok"] * cap + ["validation_error"] * (1500 - cap)
    assert db.session.scalar(select(func.count()).select_from(Reaction)) == cap
    assert len(published.named("message:updated")) == cap  # refused reactions are not broadcast
    db.session.expire_all()
    assert db.session.get(Message, message["id"]).version == version + cap  # nor do they raise the version
    # Removing one makes room for another.
    messaging.react(reactor, message["id"], "e0", add=False)
    assert code(attempt(messaging.react, reactor, message["id"], "again", add=True)) == "ok"


def test_distinct_reactions_per_message_are_capped(app, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_REACTION_KINDS", 5)
    author = make_user()[0]
    people = [make_user()[0] for _ in range(7)]
    cid = conversations.create_group(author, "team", [p.id for p in people])["id"]
    message = send(author, cid)["id"]
    results = [code(attempt(messaging.react, p, message, f"k{i}", add=True)) for i, p in enumerate(people)]
    assert results == ["ok"] * 5 + ["validation_error"] * 2
    # A kind already there can still be added to.
    assert code(attempt(messaging.react, people[6], message, "k0", add=True)) == "ok"
    assert sorted(messaging.react(author, message, "k1", add=True)["reactions"]) == ["k0", "k1", "k2", "k3", "k4"]


# ---------------------------------------------------------------- edit and membership rates


@pytest.fixture
def no_refill(app, monkeypatch):
    """Keep the default bursts, refill (almost) never: the count is exact however slow the machine."""
    for action in ("EDIT", "MEMBERSHIP", "REACTION", "GROUP_CHANGE"):
        monkeypatch.setitem(app.config, f"RATE_{action}_PER_SECOND", 1e-9)


def test_200_edits_in_a_row_are_rate_limited(app, make_user, published, no_refill):  # noqa: F811
    author, reader = make_user()[0], make_user()[0]
    cid = conversations.create_group(author, "team", [reader.id])["id"]
    message = send(author, cid)["id"]
    burst = app.config["RATE_EDIT_BURST"]
    assert burst <= 20  # a person's pace
    published.clear()
    results = [attempt(messaging.edit_message, author, message, f"edit {i}") for i in range(200)]
    assert [code(r) for r in results] == ["ok"] * burst + ["rate_limited"] * (200 - burst)
    assert all(r.envelope()["error"]["retry_after"] >= 1 for r in results[burst:])
    db.session.expire_all()
    assert db.session.get(Message, message).body == f"edit {burst - 1}"  # the refused edits stored nothing
    assert len(published.named("message:updated")) == burst
    # Re-sending the current text changes nothing and costs nothing.
    assert code(attempt(messaging.edit_message, author, message, f"edit {burst - 1}")) == "ok"


def test_join_and_leave_in_a_loop_are_rate_limited(app, make_user, published, no_refill):  # noqa: F811
    owner, hopper = make_user()[0], make_user()[0]
    cid = conversations.create_group(owner, "room", [], "public")["id"]
    burst = app.config["RATE_MEMBERSHIP_BURST"]
    assert burst <= 20
    published.clear()
    codes = []
    for _ in range(100):  # join when out, leave when in
        if hopper.id in members_of(cid):
            codes.append(code(attempt(conversations.remove_member, hopper, cid, hopper.id)))
        else:
            codes.append(code(attempt(conversations.join, hopper, cid)))
    assert codes == ["ok"] * burst + ["rate_limited"] * (100 - burst)
    changes = published.named("member:joined") + published.named("member:left")
    assert len(changes) == burst  # refused joins and leaves reach nobody
    assert (hopper.id in members_of(cid)) == (burst % 2 == 1)


def test_adding_members_counts_against_the_actor(app, make_user, no_refill):
    owner = make_user()[0]
    cid = conversations.create_group(owner, "team", [])["id"]
    burst = app.config["RATE_MEMBERSHIP_BURST"]
    newcomers = bulk_users(burst + 3, "bulk-n-")
    results = [code(attempt(conversations.add_member, owner, cid, uid)) for uid in newcomers]
    assert results == ["ok"] * burst + ["rate_limited"] * 3
    assert len(members_of(cid)) == burst + 1


def test_toggling_a_reaction_in_a_loop_is_rate_limited(app, make_user, published, no_refill):  # noqa: F811
    author, reactor = make_user()[0], make_user()[0]
    cid = conversations.create_group(author, "team", [reactor.id])["id"]
    message = send(author, cid)["id"]
    burst = app.config["RATE_REACTION_BURST"]
    assert burst <= 30  # a person's pace
    published.clear()
    reacted, results = False, []
    for _ in range(200):  # add when it is not there, remove when it is: every attempt a real change
        results.append(code(attempt(messaging.react, reactor, message, "👍", add=not reacted)))
        reacted ^= results[-1] == "ok"
    assert results == ["ok"] * burst + ["rate_limited"] * (200 - burst)
    assert len(published.named("message:updated")) == burst  # refused toggles reach nobody


def test_renames_and_role_changes_in_a_loop_are_rate_limited(app, make_user, published, no_refill):  # noqa: F811
    """Each one sends every member the whole conversation: bounded by the actor's pace."""
    owner, other = make_user()[0], make_user()[0]
    cid = conversations.create_group(owner, "team", [other.id])["id"]
    burst = app.config["RATE_GROUP_CHANGE_BURST"]
    assert burst <= 20
    published.clear()
    results = []
    for i in range(60):
        if i % 2:
            role = "admin" if i % 4 == 1 else "member"
            results.append(code(attempt(conversations.set_role, owner, cid, other.id, role)))
        else:
            results.append(code(attempt(conversations.update_group, owner, cid, f"name {i}", MISSING, MISSING)))
    assert results == ["ok"] * burst + ["rate_limited"] * (60 - burst)
    assert len({e.payload["conversation"]["version"] for e in published.named("conversation:updated")}) == burst
