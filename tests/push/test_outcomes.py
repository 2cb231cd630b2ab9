"""What each answer of a Web Push service means to the outbox worker, over real
HTTP: 201 sent, 404/410 gone (delete the subscription), 429/5xx retry (no sooner
than Retry-After), the rest failed; network trouble is retry, never an exception."""

from __future__ import annotations

import socket
import time
from email.utils import formatdate

import pytest

from chatapp.push import PushTarget

from .conftest import message_payload, webpush_target


@pytest.mark.parametrize(
    ("answer", "kind", "retry_after"),
    [
        ((201, {}), "sent", None),
        ((202, {}), "sent", None),
        ((404, {}), "gone", None),
        ((410, {}), "gone", None),
        ((429, {"Retry-After": "17"}), "retry", 17.0),
        ((429, {}), "retry", None),
        ((500, {}), "retry", None),
        ((503, {"Retry-After": "3"}), "retry", 3.0),
        ((413, {}), "failed", None),
        ((400, {}, b"malformed"), "failed", None),
        ((401, {}), "failed", None),
    ],
)
def test_each_status_is_classified(sender, push_service, answer, kind, retry_after) -> None:
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], answer)

    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")

    assert (outcome.kind, outcome.status, outcome.retry_after) == (kind, answer[0], retry_after)


def test_retry_after_as_an_http_date_is_seconds_from_now(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    push_service.script(subscription["endpoint"], (429, {"Retry-After": formatdate(time.time() + 120, usegmt=True)}))
    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")
    assert outcome.kind == "retry" and outcome.retry_after is not None
    assert 115 <= outcome.retry_after <= 121


def test_a_subscription_the_browser_dropped_is_gone(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    push_service.unsubscribe(subscription["endpoint"])
    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")
    assert (outcome.kind, outcome.status) == ("gone", 410)
    assert push_service.received() == []


def test_a_push_signed_with_another_key_than_the_subscriptions_is_failed(sender, push_service) -> None:
    """The browser subscribed with another server key (say, a lost VAPID key):
    the service refuses every push; deleting the row is the lead's call, not ours."""
    subscription = push_service.new_subscription(server_key="B" + "A" * 86)
    outcome = sender.send(webpush_target(subscription), message_payload(), topic="c42")
    assert (outcome.kind, outcome.status) == ("failed", 403)


def test_a_refused_connection_is_retry(sender) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    target = PushTarget("webpush", endpoint=f"http://127.0.0.1:{port}/push/x", p256dh=_P256DH, auth=_AUTH)
    outcome = sender.send(target, message_payload(), topic="c42")
    assert outcome.kind == "retry" and "Refused" in outcome.detail


def test_https_to_a_service_without_tls_is_retry(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    target = webpush_target(subscription)
    target = PushTarget("webpush", endpoint=target.endpoint.replace("http://", "https://"),
                        p256dh=target.p256dh, auth=target.auth)  # fmt: skip
    outcome = sender.send(target, message_payload(), topic="c42")
    assert outcome.kind == "retry" and "SSL" in outcome.detail


@pytest.mark.parametrize(
    ("argument", "value"),
    [("topic", "c 42"), ("topic", "x" * 33), ("topic", "c42+"), ("urgency", "urgent"), ("ttl", -1)],
)
def test_arguments_no_push_can_carry_are_the_callers_bug(sender, push_service, argument, value) -> None:
    subscription = push_service.new_subscription()
    arguments = {"topic": "c42", argument: value}
    with pytest.raises(ValueError, match=argument):
        sender.send(webpush_target(subscription), message_payload(), **arguments)
    assert push_service.connections == 0


def test_urgency_ttl_and_topic_are_passed_through(sender, push_service) -> None:
    subscription = push_service.new_subscription()
    outcome = sender.send(webpush_target(subscription), {"type": "read"}, topic="Zz_-09", urgency="low", ttl=0)
    assert outcome.kind == "sent"
    headers = push_service.received()[0].headers
    assert (headers["urgency"], headers["ttl"], headers["topic"]) == ("low", "0", "Zz_-09")


_P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
