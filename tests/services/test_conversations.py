"""Conversations, specified at the service layer (no HTTP, no sockets).

A pair of users has exactly one direct conversation; the list is ordered by
latest activity, carries the last message and the caller's unread count, and
pages with an opaque cursor that is null on the last page.
"""

from __future__ import annotations

import time

import pytest

from chatapp.services import conversations, messaging
from chatapp.services.errors import NotFound, ValidationError


@pytest.fixture(autouse=True)
def cheap_hashes(app):
    # Password hashing is not under test here (test_accounts checks the real
    # OWASP cost); a cheap hash keeps these many small tests fast.
    app.config.update(ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)


@pytest.fixture
def published(app):
    """Every event the services hand to the publisher (after commit)."""
    events = []
    app.extensions["chat.publisher"] = events.append
    return events


def _tick() -> None:
    # updated_at has millisecond resolution: make "later" unambiguous.
    time.sleep(0.003)


# ---------------------------------------------------------------- direct conversations


def test_opening_a_direct_conversation_creates_it_once(make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    first, created = conversations.open_direct(alice, bob.id)
    again, created_again = conversations.open_direct(alice, bob.id)
    from_bob, created_by_bob = conversations.open_direct(bob, alice.id)
    assert (created, created_again, created_by_bob) == (True, False, False)
    assert first["id"] == again["id"] == from_bob["id"]


def test_a_direct_conversation_has_the_contract_shape(make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    conversation, _ = conversations.open_direct(alice, bob.id)
    assert conversation["type"] == "direct"
    assert [m["username"] for m in conversation["members"]] == ["alice", "bob"]
    assert conversation["last_seq"] == 0
    assert conversation["last_message"] is None
    assert conversation["unread_count"] == 0
    assert conversation["last_read_seq"] == 0
    for key in ("id", "name", "created_at", "updated_at"):
        assert key in conversation
    assert conversation["created_at"].endswith("Z")


def test_a_new_direct_conversation_is_announced_to_both_members_once(make_user, published):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    conversations.open_direct(alice, bob.id)
    conversations.open_direct(alice, bob.id)
    announced = [e for e in published if e.name == "conversation:new"]
    assert sorted(e.users for e in announced) == [(alice.id,), (bob.id,)]


@pytest.mark.parametrize("user_id", ["2", 2.0, True, None, 0, -1, [2], 2**64])
def test_a_malformed_user_id_is_a_validation_error(make_user, user_id):
    alice, _ = make_user("alice")
    make_user("bob")
    with pytest.raises(ValidationError):
        conversations.open_direct(alice, user_id)


def test_an_unknown_user_is_not_found(make_user):
    alice, _ = make_user("alice")
    with pytest.raises(NotFound):
        conversations.open_direct(alice, 999_999)


def test_a_non_member_cannot_see_a_direct_conversation(make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    eve, _ = make_user("eve")
    conversation, _ = conversations.open_direct(alice, bob.id)
    with pytest.raises(NotFound) as hidden:
        conversations.get_conversation(eve, conversation["id"])
    with pytest.raises(NotFound) as missing:
        conversations.get_conversation(eve, 999_999)
    # The same answer as for a conversation that does not exist.
    assert hidden.value.envelope() == missing.value.envelope()


# ---------------------------------------------------------------- the list


@pytest.fixture
def alice_and_friends(app, make_user):
    app.config["RATE_MESSAGES_BURST"] = 1000
    alice, _ = make_user("alice")
    friends = [make_user(f"friend{i}")[0] for i in range(5)]
    convs = []
    for friend in friends:
        convs.append(conversations.open_direct(alice, friend.id)[0])
        _tick()
    return alice, friends, convs


def test_the_list_is_ordered_by_latest_activity(alice_and_friends):
    alice, friends, convs = alice_and_friends
    listed, _ = conversations.list_conversations(alice, None, None)
    assert [c["id"] for c in listed] == [c["id"] for c in reversed(convs)]
    # A message in the oldest conversation moves it to the top.
    messaging.send_message(friends[0], convs[0]["id"], "hello again", "c1")
    listed, _ = conversations.list_conversations(alice, None, None)
    assert [c["id"] for c in listed][:2] == [convs[0]["id"], convs[4]["id"]]


def test_the_list_carries_the_last_message_and_the_callers_unread_count(alice_and_friends):
    alice, friends, convs = alice_and_friends
    friend = friends[2]
    messaging.send_message(friend, convs[2]["id"], "one", "c1")
    messaging.send_message(friend, convs[2]["id"], "two", "c2")
    listed, _ = conversations.list_conversations(alice, None, None)
    top = listed[0]
    assert top["id"] == convs[2]["id"]
    assert top["last_message"]["body"] == "two"
    assert top["last_message"]["seq"] == top["last_seq"] == 2
    assert top["unread_count"] == 2
    assert top["last_read_seq"] == 0
    # The sender has read their own messages.
    theirs, _ = conversations.list_conversations(friend, None, None)
    assert theirs[0]["unread_count"] == 0 and theirs[0]["last_read_seq"] == 2


def test_the_list_only_shows_the_callers_conversations(alice_and_friends, make_user):
    alice, friends, convs = alice_and_friends
    listed, _ = conversations.list_conversations(friends[0], None, None)
    assert [c["id"] for c in listed] == [convs[0]["id"]]
    loner, _ = make_user("loner")
    assert conversations.list_conversations(loner, None, None) == ([], None)


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6])
def test_cursor_pagination_walks_the_whole_list_once(alice_and_friends, limit):
    alice, _, convs = alice_and_friends
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = conversations.list_conversations(alice, limit, cursor)
        pages += 1
        assert len(page) <= limit
        seen.extend(c["id"] for c in page)
        if cursor is None:
            break
    assert seen == [c["id"] for c in reversed(convs)]
    # next_cursor is null on the last page, not one empty page later.
    assert pages == -(-len(convs) // limit)


def test_pagination_breaks_ties_of_equal_activity_by_id(app, make_user):
    alice, _ = make_user("alice")
    friends = [make_user(f"pal{i}")[0] for i in range(4)]
    convs = [conversations.open_direct(alice, f.id)[0] for f in friends]
    from chatapp.extensions import db
    from chatapp.models import Conversation

    same = db.session.get(Conversation, convs[0]["id"]).updated_at
    for c in convs:
        db.session.get(Conversation, c["id"]).updated_at = same
    db.session.commit()
    first, cursor = conversations.list_conversations(alice, 2, None)
    second, last = conversations.list_conversations(alice, 2, cursor)
    assert [c["id"] for c in first + second] == sorted((c["id"] for c in convs), reverse=True)
    assert last is None


def test_the_page_size_is_clamped_to_100(app, make_user):
    alice, _ = make_user("alice")
    assert conversations.list_conversations(alice, 10_000, None) == ([], None)


@pytest.mark.parametrize("limit", [0, -5, "10", 1.5, False])
def test_a_bad_limit_is_a_validation_error(make_user, limit):
    alice, _ = make_user("alice")
    with pytest.raises(ValidationError):
        conversations.list_conversations(alice, limit, None)


@pytest.mark.parametrize("cursor", ["garbage!", "bm90LWEtY3Vyc29y", 42, "x" * 300, "fA"])
def test_a_malformed_cursor_is_a_validation_error(make_user, cursor):
    alice, _ = make_user("alice")
    with pytest.raises(ValidationError):
        conversations.list_conversations(alice, None, cursor)
