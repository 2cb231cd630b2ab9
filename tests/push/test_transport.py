"""The HTTP exchange itself: a stalled or dribbling service is cut off at
CHAT_PUSH_TIMEOUT in total, redirects are not followed, a huge answer is not
read, and connections are kept alive per service (and replaced when closed)."""

from __future__ import annotations

import time

from chatapp.push.transport import MAX_RESPONSE_BYTES, _Connection
from tests.support.push_service import Answer

from .conftest import message_payload, webpush_target


def test_a_stalled_service_is_cut_off_at_the_timeout(make_sender, push_service) -> None:
    sender = make_sender(PUSH_TIMEOUT=0.5)
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], Answer(201, delay=3.0))

    started = time.monotonic()
    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")

    assert outcome.kind == "retry" and "time" in outcome.detail.lower()
    assert time.monotonic() - started < 1.0


def test_a_service_dribbling_one_byte_at_a_time_is_cut_off_at_the_timeout_in_total(make_sender, push_service) -> None:
    """Each byte arrives well within the timeout; the whole answer would take 8 s."""
    sender = make_sender(PUSH_TIMEOUT=1.0)
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], Answer(201, dribble=0.1))

    started = time.monotonic()
    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")

    assert outcome.kind == "retry"
    assert 0.9 <= time.monotonic() - started < 1.6


def test_a_redirect_is_not_followed(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    elsewhere = push_service.new_subscription()
    push_service.script(subscription["endpoint"], (307, {"Location": elsewhere["endpoint"]}))

    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")

    assert (outcome.kind, outcome.status, outcome.detail) == ("failed", 307, "redirect not followed")
    assert push_service.received(elsewhere["endpoint"]) == []


def test_a_huge_answer_is_read_no_further_than_the_cap(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], Answer(500, body=b"x" * (MAX_RESPONSE_BYTES * 8)))

    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")

    assert (outcome.kind, outcome.status) == ("retry", 500)
    assert len(outcome.detail) <= 200
    # Not drained, so not reused: the next push opens a new connection.
    assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    assert push_service.connections == 2


def test_pushes_to_one_service_share_a_kept_alive_connection(sender, push_service) -> None:
    subscriptions = [push_service.new_subscription() for _ in range(3)]
    for _ in range(3):
        for subscription in subscriptions:
            assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    assert len(push_service.received()) == 9
    assert push_service.connections == 1


def test_a_connection_the_service_closed_while_idle_is_replaced(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    push_service.drop_connections()
    time.sleep(0.05)

    assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    assert push_service.connections == 2


def test_a_connection_closed_just_after_the_check_is_retried_once_on_a_fresh_one(
    sender, push_service, monkeypatch
) -> None:
    subscription = push_service.new_subscription()
    assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    push_service.drop_connections()
    time.sleep(0.05)
    monkeypatch.setattr(_Connection, "dropped", lambda self: False)  # the race: closed after the look

    assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    assert len(push_service.received()) == 2
    assert push_service.connections == 2


def test_a_service_that_closes_after_each_answer_still_works(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], (201, {"Connection": "close"}), (201, {"Connection": "close"}))
    for _ in range(3):
        assert sender.send(webpush_target(subscription), message_payload(), topic="c42").kind == "sent"
    assert push_service.connections == 3
