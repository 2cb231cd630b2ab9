"""Replies (PROTOCOL.md v2 "Replies"): a message quotes another of the same
conversation, and the quote shows the original as it is now."""

from __future__ import annotations

import uuid

import pytest

from chatapp.services import conversations, messaging
from chatapp.services import sync as catch_up
from chatapp.services.errors import ValidationError
from tests.services.live_fixtures import Recorder, published  # noqa: F401


@pytest.fixture
def chat(app, make_user):
    app.config.update(RATE_MESSAGES_BURST=1000, RATE_EDIT_BURST=1000, ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    ana, bob, cy = (make_user(name)[0] for name in ("ana", "bob", "cyd"))
    dm = conversations.open_direct(ana, bob.id)[0]["id"]
    other = conversations.open_direct(ana, cy.id)[0]["id"]
    return ana, bob, dm, other


def send(user, cid, body, **kw):
    return messaging.send_message(user, cid, body, str(uuid.uuid4()), **kw)[0]


def latest(user, cid):
    return messaging.history(user, cid, None, None, 100)[0]


def test_a_reply_quotes_the_original(chat):
    ana, bob, dm, _ = chat
    original = send(ana, dm, "lunch at 1? " + "y" * 300)
    reply = send(bob, dm, "yes!", reply_to=original["id"])
    assert reply["reply_to"] == {"id": original["id"], "seq": original["seq"], "sender_id": ana.id,
                                 "body": original["body"][:200], "deleted": False}
    assert latest(ana, dm)[-1]["reply_to"] == reply["reply_to"]
    assert send(ana, dm, "plain")["reply_to"] is None


@pytest.mark.parametrize("target", ["other conversation", "missing", "deleted"])
def test_a_reply_must_quote_a_live_message_of_the_same_conversation(chat, target):
    ana, bob, dm, other = chat
    if target == "other conversation":
        quoted = send(ana, other, "elsewhere")["id"]
    elif target == "missing":
        quoted = 999999
    else:
        quoted = send(ana, dm, "gone")["id"]
        messaging.delete_message(ana, quoted)
    with pytest.raises(ValidationError) as caught:
        send(bob, dm, "re", reply_to=quoted)
    assert "reply_to" in caught.value.envelope()["error"]["fields"]


def test_the_quote_follows_an_edit_and_the_reply_comes_back_in_changes(chat, published):  # noqa: F811
    ana, bob, dm, _ = chat
    original = send(ana, dm, "lunch at 1?")
    reply = send(bob, dm, "yes!", reply_to=original["id"])
    published.clear()
    messaging.edit_message(ana, original["id"], "lunch at 2?")
    updated = [e.payload["message"] for e in published.named("message:updated")]
    assert [m["id"] for m in updated] == [original["id"], reply["id"]]
    assert updated[1]["reply_to"]["body"] == "lunch at 2?"
    assert updated[1]["version"] == updated[0]["version"] + 1  # a version of its own
    answer = catch_up.sync(bob, {str(dm): reply["seq"]}, 10, {str(dm): reply["version"]})
    assert {m["id"]: m["reply_to"] for m in answer["changes"]}[reply["id"]]["body"] == "lunch at 2?"


def test_the_quote_empties_when_the_original_is_deleted(chat):
    ana, bob, dm, _ = chat
    original = send(ana, dm, "secret")
    send(bob, dm, "what?", reply_to=original["id"])
    messaging.delete_message(ana, original["id"])
    quote = latest(bob, dm)[-1]["reply_to"]
    assert quote == {"id": original["id"], "seq": original["seq"], "sender_id": ana.id, "body": "", "deleted": True}


def test_a_deleted_reply_quotes_nothing(chat):
    ana, bob, dm, _ = chat
    original = send(ana, dm, "hi")
    reply = send(bob, dm, "hey", reply_to=original["id"])
    messaging.delete_message(bob, reply["id"])
    assert latest(ana, dm)[-1]["reply_to"] is None
