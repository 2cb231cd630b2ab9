"""Read receipts, delivered receipts and unread badges."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import update

from chatapp.extensions import db
from chatapp.models import Membership
from chatapp.services import conversations, messaging, receipts
from chatapp.services.errors import ChatError
from tests.services.live_fixtures import published  # noqa: F401

_ids = itertools.count(1)


def send(user, cid: int, body: str = "hi") -> dict:
    message, created = messaging.send_message(user, cid, body, f"c{next(_ids)}")
    assert created
    return message


@pytest.fixture
def trio(make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    carol, _ = make_user("carol")
    group = conversations.create_group(alice, "trio", [bob.id, carol.id])
    return group["id"], alice, bob, carol


def view(user, cid: int) -> dict:
    return conversations.get_conversation(user, cid)


def test_read_moves_forward_only_and_is_clamped_to_last_seq(trio):
    cid, alice, bob, _ = trio
    for _ in range(4):
        send(alice, cid)
    assert receipts.mark_read(bob, cid, 3) == {"conversation_id": cid, "last_read_seq": 3, "unread_count": 1}
    assert receipts.mark_read(bob, cid, 1) == {"conversation_id": cid, "last_read_seq": 3, "unread_count": 1}
    assert receipts.mark_read(bob, cid, 10**6) == {"conversation_id": cid, "last_read_seq": 4, "unread_count": 0}
    assert view(bob, cid)["last_read_seq"] == 4


@pytest.mark.parametrize("seq", [-1, "3", 2.5, None, True, [1]])
def test_a_bad_seq_is_a_validation_error(trio, seq, published):  # noqa: F811
    cid, alice, bob, _ = trio
    send(alice, cid)
    published.clear()
    with pytest.raises(ChatError) as info:
        receipts.mark_read(bob, cid, seq)
    assert info.value.code == "validation_error"
    assert published.events == []


def test_a_stale_read_never_moves_the_position_backwards(trio):
    """Two devices read at once: the second one loaded the membership before
    the first committed. A conditional UPDATE keeps the position monotonic."""
    cid, alice, bob, _ = trio
    for _ in range(5):
        send(alice, cid)
    # bob's membership (last_read_seq 0) stays in this session (the identity map is weak: hold it).
    held = conversations.get_member(bob, cid)
    with db.engine.begin() as other_device:  # the other device's read, committed behind this session's back
        other_device.execute(
            update(Membership)
            .where(Membership.conversation_id == cid, Membership.user_id == bob.id)
            .values(last_read_seq=5, unread_count=0)
        )
    assert held[1].last_read_seq == 0
    assert receipts.mark_read(bob, cid, 3)["last_read_seq"] == 5
    db.session.expire_all()
    assert view(bob, cid)["last_read_seq"] == 5


def test_read_tells_every_member_and_the_readers_devices_get_their_counts(trio, published):  # noqa: F811
    cid, alice, bob, carol = trio
    other = conversations.open_direct(carol, bob.id)[0]["id"]
    send(alice, cid)
    send(alice, cid)
    send(carol, other)
    published.clear()
    receipts.mark_read(bob, cid, 1)
    [read] = published.named("read")
    assert sorted(read.users) == sorted([alice.id, bob.id, carol.id])
    # The receipt is a change of the conversation: it carries the version it raised it to.
    assert read.payload == {"conversation_id": cid, "user_id": bob.id, "seq": 1, "version": view(bob, cid)["version"]}
    [unread] = published.named("unread")
    assert unread.users == (bob.id,)
    assert unread.payload == {"conversation_id": cid, "unread_count": 1, "total_unread": 2, "unread_mentions": 0}


def test_a_read_that_moves_nothing_publishes_nothing(trio, published):  # noqa: F811
    cid, alice, bob, _ = trio
    send(alice, cid)
    receipts.mark_read(bob, cid, 1)
    published.clear()
    receipts.mark_read(bob, cid, 1)
    receipts.mark_read(bob, cid, 0)
    assert published.events == []


def test_sending_marks_the_sender_as_read(trio, published):  # noqa: F811
    cid, alice, bob, _ = trio
    send(alice, cid)
    send(alice, cid)
    assert view(bob, cid)["unread_count"] == 2
    published.clear()
    mine = send(bob, cid, "reply")
    assert view(bob, cid)["last_read_seq"] == mine["seq"] == 3
    assert view(bob, cid)["unread_count"] == 0
    # bob's other devices clear their badge; everybody sees his receipt.
    assert published.to(bob.id, "unread")[-1] == {
        "conversation_id": cid, "unread_count": 0, "total_unread": 0, "unread_mentions": 0,
    }
    receipt = {"conversation_id": cid, "user_id": bob.id, "seq": 3, "version": mine["version"]}
    assert receipt in published.to(alice.id, "read")
    # The others' counts grew by one, and their devices were told.
    assert view(alice, cid)["unread_count"] == 1
    assert published.to(alice.id, "unread")[-1]["unread_count"] == 1


def test_only_messages_from_others_are_unread(trio):
    cid, alice, bob, _ = trio
    send(alice, cid)
    send(bob, cid)
    send(alice, cid)
    assert view(alice, cid)["unread_count"] == 0
    assert view(bob, cid)["unread_count"] == 1


def test_deleted_messages_do_not_count_as_unread(trio, published):  # noqa: F811
    cid, alice, bob, carol = trio
    first = send(alice, cid)
    send(alice, cid)
    receipts.mark_read(carol, cid, 1)
    published.clear()
    messaging.delete_message(alice, first["id"])
    assert view(bob, cid)["unread_count"] == 1  # bob had not read it: his badge drops
    assert view(carol, cid)["unread_count"] == 1  # carol had: unchanged
    assert published.to(bob.id, "unread") == [
        {"conversation_id": cid, "unread_count": 1, "total_unread": 1, "unread_mentions": 0}
    ]
    assert published.to(carol.id, "unread") == []
    # A later read recounts without the deleted message.
    assert receipts.mark_read(bob, cid, 1)["unread_count"] == 1


def test_delivered_receipts_are_monotonic_clamped_and_implied_by_read(trio, published):  # noqa: F811
    cid, alice, bob, carol = trio
    for _ in range(3):
        send(alice, cid)
    published.clear()
    assert receipts.mark_delivered(bob, cid, 2) == {"conversation_id": cid, "delivered_seq": 2}
    assert receipts.mark_delivered(bob, cid, 1) == {"conversation_id": cid, "delivered_seq": 2}
    assert receipts.mark_delivered(bob, cid, 99) == {"conversation_id": cid, "delivered_seq": 3}
    delivered = published.named("delivered")
    assert [e.payload["seq"] for e in delivered] == [2, 3]
    assert sorted(delivered[0].users) == sorted([alice.id, bob.id, carol.id])
    receipts.mark_read(carol, cid, 3)
    shown = view(alice, cid)["receipts"]
    assert shown[str(carol.id)] == {"last_read_seq": 3, "delivered_seq": 3}
    assert shown[str(bob.id)] == {"last_read_seq": 0, "delivered_seq": 3}
    with pytest.raises(ChatError) as info:
        receipts.mark_delivered(bob, cid, -1)
    assert info.value.code == "validation_error"


def test_a_non_member_can_not_read_or_acknowledge(trio, make_user, published):  # noqa: F811
    cid, alice, _, _ = trio
    outsider, _ = make_user("outsider")
    room = conversations.create_group(alice, "lobby", [], visibility="public")["id"]
    send(alice, cid)
    send(alice, room)
    published.clear()
    codes = []
    for target in (cid, room):
        for action in (receipts.mark_read, receipts.mark_delivered):
            with pytest.raises(ChatError) as info:
                action(outsider, target, 1)
            codes.append(info.value.code)
    assert codes == ["not_found", "not_found", "forbidden", "forbidden"]
    assert published.events == []


def test_ready_state_matches_the_conversation_list(trio):
    cid, alice, bob, carol = trio
    direct = conversations.open_direct(alice, bob.id)[0]["id"]
    send(alice, cid)
    send(alice, direct)
    send(alice, direct)
    receipts.mark_read(bob, direct, 1)
    cursors, total = receipts.ready_state(bob)
    listed, _ = conversations.list_conversations(bob, None, None)
    assert [(c["id"], c["last_seq"], c["last_read_seq"], c["unread_count"]) for c in listed] == [
        (c["id"], c["last_seq"], c["last_read_seq"], c["unread_count"]) for c in cursors
    ]
    assert total == 2 == sum(c["unread_count"] for c in listed)


def test_counts_rebuilt_from_events_equal_a_fresh_fetch(trio, published):  # noqa: F811
    """Zulip's verify_action at the service level: replay the events bob's
    devices received over his initial state and compare with a fresh fetch."""
    cid, alice, bob, carol = trio
    direct = conversations.open_direct(carol, bob.id)[0]["id"]
    cursors, total = receipts.ready_state(bob)
    state = {c["id"]: {"unread_count": c["unread_count"], "last_read_seq": c["last_read_seq"]} for c in cursors}
    published.clear()

    sent = [send(alice, cid), send(carol, cid), send(carol, direct), send(alice, cid)]
    receipts.mark_read(bob, cid, 2)
    messaging.delete_message(alice, sent[3]["id"])
    send(bob, direct, "ok")
    send(carol, direct)
    messaging.delete_message(carol, sent[1]["id"])  # already read by bob: no change to his badge
    receipts.mark_read(bob, cid, 1)  # backwards: ignored

    for event in published.events:
        if bob.id not in event.users:
            continue
        p = event.payload
        if event.name == "unread":
            state.setdefault(p["conversation_id"], {"last_read_seq": 0})["unread_count"] = p["unread_count"]
            total = p["total_unread"]
        elif event.name == "read" and p["user_id"] == bob.id:
            state[p["conversation_id"]]["last_read_seq"] = p["seq"]
        elif event.name == "message:new" and p["message"]["sender_id"] == bob.id:
            state[p["message"]["conversation_id"]]["last_read_seq"] = p["message"]["seq"]
        elif event.name == "conversation:new":
            conv = p["conversation"]
            state[conv["id"]] = {"unread_count": conv["unread_count"], "last_read_seq": conv["last_read_seq"]}

    fresh, _ = conversations.list_conversations(bob, None, None)
    assert state == {c["id"]: {"unread_count": c["unread_count"], "last_read_seq": c["last_read_seq"]} for c in fresh}
    assert total == sum(c["unread_count"] for c in fresh) == 1
