"""A room message's ``unread`` badges are queued as one fan-out (services/events.py ``on_commit_each``).

Each member still gets their own counts, after the message itself, and only
once the send commits. A publisher that takes a fan-out in one call (the
realtime publisher's ``each``) gets one ``EventEach``; any other publisher gets
one ``Event`` per member, as before.
"""

from __future__ import annotations

import pytest

from chatapp.contract import events as contract_events
from chatapp.extensions import db
from chatapp.services import conversations, events, messaging
from chatapp.services.events import Event, EventEach


class FanOutRecorder:
    """A publisher with ``each``, as chatapp/realtime/publisher.py is."""

    def __init__(self) -> None:
        self.published: list[Event | EventEach] = []

    def __call__(self, event: Event) -> None:
        self.published.append(event)

    def each(self, event: EventEach) -> None:
        self.published.append(event)


@pytest.fixture
def room(app, make_user):
    app.config["RATE_MESSAGES_BURST"] = 5000
    app.config.update(ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    owner, *members = [make_user(name)[0] for name in ("owner", "ann", "ben", "cat")]
    cid = conversations.create_group(owner, "team", [m.id for m in members])["id"]
    return owner, members, cid


def test_a_room_message_queues_one_fan_out_of_each_members_counts_after_the_message(app, room):
    owner, members, cid = room
    messaging.send_message(members[0], cid, "first", "c-0")  # ann has read it all: her counts stay 0 below
    recorder = FanOutRecorder()
    app.extensions["chat.publisher"] = recorder

    messaging.send_message(owner, cid, "hello", "c-1")

    # The owner had ann's message unread: their read receipt and own badge follow, as before.
    names = [type(e).__name__ + ":" + e.name for e in recorder.published]
    assert names == ["Event:message:new", "EventEach:unread", "Event:read", "Event:unread"]
    fan_out = recorder.published[1]
    assert isinstance(fan_out, EventEach)
    counts = {uid: (p["conversation_id"], p["unread_count"], p["total_unread"]) for uid, p in fan_out.payloads}
    ann, ben, cat = (m.id for m in members)
    assert counts == {ann: (cid, 1, 1), ben: (cid, 2, 2), cat: (cid, 2, 2)}


def test_a_publisher_without_each_gets_one_event_per_member_in_order(app, room):
    owner, members, cid = room
    published: list[Event] = []
    app.extensions["chat.publisher"] = published.append

    messaging.send_message(owner, cid, "hello", "c-1")

    assert all(type(e) is Event for e in published)
    assert [e.name for e in published] == ["message:new", "unread", "unread", "unread"]
    assert set(published[0].users) == {owner.id, *(m.id for m in members)}
    assert sorted(e.users for e in published[1:]) == sorted((m.id,) for m in members)


def test_a_fan_out_is_dropped_on_rollback(app, room):
    _, members, cid = room
    recorder = FanOutRecorder()
    app.extensions["chat.publisher"] = recorder
    badge = contract_events.Unread(conversation_id=cid, unread_count=1, total_unread=1, unread_mentions=0)
    events.on_commit_each([(members[0].id, badge)])
    db.session.rollback()
    db.session.commit()
    assert recorder.published == []


def test_a_fan_out_is_of_one_contract_event_type(app, room):
    _, members, cid = room
    badge = contract_events.Unread(conversation_id=cid, unread_count=1, total_unread=1, unread_mentions=0)
    receipt = contract_events.Read(conversation_id=cid, user_id=members[0].id, seq=1, version=1)
    with pytest.raises(TypeError):
        events.on_commit_each([(members[0].id, badge), (members[1].id, receipt)])
    with pytest.raises(TypeError):
        events.on_commit_each([(members[0].id, {"unread_count": 1})])  # type: ignore[list-item]
    db.session.rollback()
