"""Typing: relayed to the other members, throttled, never persisted."""

from __future__ import annotations

import time

import pytest

from chatapp.extensions import db
from chatapp.models import Conversation, Message
from chatapp.services import conversations, typing_indicator
from chatapp.services.errors import ChatError
from tests.services.live_fixtures import published, state_backend  # noqa: F401

THROTTLE = 0.3


@pytest.fixture
def group(app, make_user, state_backend):  # noqa: F811
    app.config["TYPING_THROTTLE_SECONDS"] = THROTTLE
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    carol, _ = make_user("carol")
    outsider, _ = make_user("outsider")
    conv = conversations.create_group(alice, "trio", [bob.id, carol.id])
    return conv["id"], alice, bob, carol, outsider


def relayed(recorder) -> list[tuple[int, bool]]:
    return [(e.payload["user_id"], e.payload["typing"]) for e in recorder.named("typing")]


def test_typing_goes_to_the_other_members_with_an_expiry(group, published, app):  # noqa: F811
    cid, alice, bob, carol, outsider = group
    published.clear()
    assert typing_indicator.set_typing(alice, cid, True) is True
    [event] = published.named("typing")
    assert sorted(event.users) == sorted([bob.id, carol.id])  # not alice's own devices, not the outsider
    assert event.payload == {
        "conversation_id": cid, "user_id": alice.id, "typing": True, "expires_in_ms": app.config["TYPING_EXPIRES_MS"],
    }
    assert typing_indicator.set_typing(alice, cid, False) is True
    assert published.named("typing")[-1].payload["typing"] is False


@pytest.mark.serial  # a 0.3 s throttle window: alone, after the parallel phase
def test_at_most_one_start_per_user_and_conversation_per_window(group, published):  # noqa: F811
    cid, alice, bob, _, _ = group
    published.clear()
    results = [typing_indicator.set_typing(alice, cid, True) for _ in range(5)]
    assert results == [True, False, False, False, False]
    # Another typist, or the same typist elsewhere, has a window of its own.
    assert typing_indicator.set_typing(bob, cid, True) is True
    time.sleep(THROTTLE + 0.05)
    assert typing_indicator.set_typing(alice, cid, True) is True
    assert relayed(published) == [(alice.id, True), (bob.id, True), (alice.id, True)]


def test_a_stop_does_not_reopen_the_throttle_window(group, published):  # noqa: F811
    cid, alice, _, _, _ = group
    published.clear()
    sent = [typing_indicator.set_typing(alice, cid, flag) for flag in (True, False, True, False, True)]
    # start and its stop are relayed; the restarts inside the window are not, nor the stop of nothing shown.
    assert sent == [True, True, False, False, False]
    assert relayed(published) == [(alice.id, True), (alice.id, False)]


def test_a_stop_without_a_shown_start_is_not_relayed(group, published):  # noqa: F811
    cid, alice, _, _, _ = group
    published.clear()
    assert typing_indicator.set_typing(alice, cid, False) is False
    assert typing_indicator.set_typing(alice, cid, True) is True
    assert typing_indicator.set_typing(alice, cid, False) is True
    assert typing_indicator.set_typing(alice, cid, False) is False
    assert relayed(published) == [(alice.id, True), (alice.id, False)]


def test_typing_is_never_persisted(group):
    cid, alice, _, _, _ = group
    before = db.session.get(Conversation, cid).updated_at
    typing_indicator.set_typing(alice, cid, True)
    typing_indicator.set_typing(alice, cid, False)
    db.session.expire_all()
    assert db.session.get(Conversation, cid).updated_at == before
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 0


@pytest.mark.parametrize(
    ("payload_typing", "conversation", "code"),
    [
        ("yes", "ok", "validation_error"),
        (1, "ok", "validation_error"),
        (None, "ok", "validation_error"),
        (True, "abc", "validation_error"),
        (True, -3, "validation_error"),
        (True, 99999, "not_found"),
    ],
)
def test_bad_typing_input_is_refused(group, published, payload_typing, conversation, code):  # noqa: F811
    cid, alice, _, _, _ = group
    published.clear()
    with pytest.raises(ChatError) as info:
        typing_indicator.set_typing(alice, cid if conversation == "ok" else conversation, payload_typing)
    assert info.value.code == code
    assert published.named("typing") == []


def test_a_non_member_can_not_type_and_a_public_visitor_must_join(group, published, make_user):  # noqa: F811
    cid, alice, _, _, outsider = group
    room = conversations.create_group(alice, "lobby", [], visibility="public")
    published.clear()
    with pytest.raises(ChatError) as private:
        typing_indicator.set_typing(outsider, cid, True)
    with pytest.raises(ChatError) as public:
        typing_indicator.set_typing(outsider, room["id"], True)
    assert (private.value.code, public.value.code) == ("not_found", "forbidden")
    assert published.events == []
