"""Who is pushed, and when (PROTOCOL.md v2 "Notifications for devices that are not listening").

The decisions, on the database under test: a job is queued in the send's own
transaction for each recipient whose level allows it and who has a device;
it is dropped at send time when a device acknowledged, the message was
deleted, or the conversation was muted meanwhile. Sending itself is proven
against a local push service over real HTTP (tests/push, tests/e2e/test_push_e2e.py).
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from chatapp.extensions import db
from chatapp.models import PushJob, PushSubscription
from chatapp.push.targets import Outcome
from chatapp.services import conversations, messaging, notification_settings, push_delivery, push_outbox, receipts
from chatapp.services.validation import MISSING
from chatapp.timeutil import utcnow


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def add_device(user, name: str = "phone") -> int:
    row = PushSubscription(user_id=user.id, type="webpush", address=f"https://push.example.com/{name}-{user.id}",
                           p256dh=b64(b"\x04" + os.urandom(64)), auth=b64(os.urandom(16)), device_name=name,
                           created_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row.id


@pytest.fixture
def people(app, make_user):
    app.config.update(RATE_MESSAGES_BURST=1000, ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    ana, bob, cy = (make_user(name)[0] for name in ("ana", "bob", "cyd"))
    dm = conversations.open_direct(ana, bob.id)[0]["id"]
    group = conversations.create_group(ana, "Trip", [bob.id, cy.id])["id"]
    return ana, bob, cy, dm, group


def send(user, cid, body):
    return messaging.send_message(user, cid, body, str(uuid.uuid4()))[0]


def jobs():
    db.session.expire_all()
    return list(db.session.scalars(select(PushJob).order_by(PushJob.id)))


def due_now():
    db.session.execute(update(PushJob).values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def planned():
    due_now()
    claimed = push_outbox.claim(100, 60)
    pushes = push_delivery.plan(claimed)
    db.session.rollback()
    return claimed, pushes


def test_a_send_queues_one_job_per_recipient_with_a_device_never_the_sender(people):
    ana, bob, cy, dm, group = people
    add_device(ana)
    add_device(bob)
    send(ana, group, "hello")
    assert [(j.kind, j.user_id) for j in jobs()] == [("message", bob.id)]  # cy has no device, ana sent it


def test_a_job_waits_for_the_delay_before_it_is_due(app, people):
    ana, bob, _, dm, _ = people
    app.config["PUSH_DELAY_SECONDS"] = 30
    add_device(bob)
    send(ana, dm, "hi")
    assert push_outbox.claim(10, 60) == []
    due_now()
    assert len(push_outbox.claim(10, 60)) == 1


def test_the_push_carries_the_contract_payload(people):
    ana, bob, _, dm, group = people
    add_device(bob)
    message = send(ana, group, "x" * 300)
    _, pushes = planned()
    assert len(pushes) == 1
    payload = pushes[0].payload
    assert payload == {
        "type": "message", "conversation_id": group, "message_id": message["id"], "seq": message["seq"],
        "sender_id": ana.id, "title": "ana in Trip", "body": "x" * 199 + "…", "mentioned": False,
        "total_unread": 1,
    }
    assert (pushes[0].topic, pushes[0].urgency) == (f"c{group}", "high")


def test_a_direct_message_is_titled_with_the_sender(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    send(ana, dm, "hi")
    assert planned()[1][0].payload["title"] == "ana"


def test_every_device_of_the_recipient_is_pushed(people):
    ana, bob, _, dm, _ = people
    add_device(bob, "phone")
    add_device(bob, "laptop")
    send(ana, dm, "hi")
    assert len(planned()[1]) == 2


@pytest.mark.parametrize("ack", ["delivered", "read"])
def test_a_device_that_acknowledged_holds_the_push_back(people, ack):
    ana, bob, _, dm, _ = people
    add_device(bob)
    message = send(ana, dm, "hi")
    mark = receipts.mark_delivered if ack == "delivered" else receipts.mark_read
    mark(bob, dm, message["seq"])
    claimed, pushes = planned()
    assert len(claimed) == 1 and pushes == []


def test_a_message_deleted_before_the_push_is_not_pushed(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    message = send(ana, dm, "oops")
    messaging.delete_message(ana, message["id"])
    assert planned()[1] == []


@pytest.mark.parametrize(
    ("level", "mute", "body", "pushed"),
    [
        ("all", None, "hello", True),
        ("mentions", None, "hello", False),
        ("mentions", None, "hello @bob", True),
        ("none", None, "hello @bob", False),
        ("all", "2099-01-01T00:00:00Z", "hello @bob", False),
        ("all", "2001-01-01T00:00:00Z", "hello", True),  # a mute in the past is none
    ],
)
def test_levels_and_mute_decide(people, level, mute, body, pushed):
    ana, bob, _, _, group = people
    add_device(bob)
    notification_settings.update_settings(bob, group, level, mute if mute else MISSING)
    send(ana, group, body)
    pushes = planned()[1]
    assert bool(pushes) is pushed
    if pushed and "@bob" in body:
        assert pushes[0].payload["mentioned"] is True


def test_muting_after_the_send_but_before_the_push_keeps_it_quiet(people):
    ana, bob, _, _, group = people
    add_device(bob)
    send(ana, group, "hello")
    notification_settings.update_settings(bob, group, "none", MISSING)
    claimed, pushes = planned()
    assert len(claimed) == 1 and pushes == []


def test_a_member_removed_before_the_push_is_not_pushed(people):
    ana, bob, _, _, group = people
    add_device(bob)
    send(ana, group, "hello")
    conversations.remove_member(ana, group, bob.id)
    assert planned()[1] == []


def test_two_claims_never_take_the_same_job(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    for n in range(5):
        send(ana, dm, f"m{n}")
    due_now()
    first = push_outbox.claim(3, 60)
    second = push_outbox.claim(10, 60)
    assert len(first) == 3 and len(second) == 2
    assert not {j.id for j in first} & {j.id for j in second}
    assert push_outbox.claim(10, 60) == []


def test_a_lapsed_lease_is_claimed_again(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    send(ana, dm, "hi")
    due_now()
    taken = push_outbox.claim(10, 60)
    db.session.execute(update(PushJob).values(claimed_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    again = push_outbox.claim(10, 60)
    assert [j.id for j in again] == [j.id for j in taken] and again[0].attempts == 2


def outcome_of(kind, **kw):
    return lambda pushes: [Outcome(kind=kind, **kw) for _ in pushes]


def test_a_sent_push_is_done_and_remembered_for_the_read_push(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    message = send(ana, dm, "hi")
    due_now()
    assert push_delivery.deliver_due(outcome_of("sent", status=201)) == 1
    assert jobs() == []
    receipts.mark_read(bob, dm, message["seq"])
    read_jobs = jobs()
    assert [(j.kind, j.user_id, j.seq) for j in read_jobs] == [("read", bob.id, message["seq"])]
    _, pushes = planned()
    assert pushes[0].payload == {"type": "read", "conversation_id": dm, "seq": message["seq"], "total_unread": 0}
    assert pushes[0].topic == f"c{dm}"


def test_reading_what_was_never_pushed_sends_no_read_push(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    message = send(ana, dm, "hi")
    receipts.mark_read(bob, dm, message["seq"])
    assert [j.kind for j in jobs()] == ["message"]  # the message job only, to be dropped at send time


def test_gone_deletes_the_subscription(people):
    ana, bob, _, dm, _ = people
    add_device(bob)
    send(ana, dm, "hi")
    due_now()
    push_delivery.deliver_due(outcome_of("gone", status=410))
    assert db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == bob.id)).all() == []
    assert jobs() == []


def test_retry_queues_that_device_again_no_sooner_than_retry_after(people):
    ana, bob, _, dm, _ = people
    phone = add_device(bob, "phone")
    add_device(bob, "laptop")
    send(ana, dm, "hi")
    due_now()

    def phone_busy(pushes):
        return [Outcome(kind="retry", status=429, retry_after=30) if p.subscription_id == phone
                else Outcome(kind="sent", status=201) for p in pushes]

    push_delivery.deliver_due(phone_busy)
    [retry] = jobs()
    assert retry.subscription_id == phone and retry.attempts == 1
    assert retry.due_at >= utcnow() + timedelta(seconds=29)
    due_now()
    claimed, pushes = planned()
    assert [p.subscription_id for p in pushes] == [phone]


def test_retries_stop_after_the_maximum_attempts(app, people):
    ana, bob, _, dm, _ = people
    app.config["PUSH_MAX_ATTEMPTS"] = 3
    add_device(bob)
    send(ana, dm, "hi")
    for _ in range(3):
        due_now()
        push_delivery.deliver_due(outcome_of("retry", status=503))
    assert jobs() == []


def test_backoff_grows_and_honours_retry_after():
    assert 0.75 <= push_delivery.backoff_seconds(1, None) <= 1.25
    assert 6 <= push_delivery.backoff_seconds(4, None) <= 10
    assert push_delivery.backoff_seconds(30, None) <= 375
    assert push_delivery.backoff_seconds(1, 120) == 120
