"""No request forgery: an endpoint is refused unless it is https on a host whose
every address is public, written or resolved; CHAT_PUSH_ALLOW_INSECURE lets
development and tests reach local services. Checked again at each send."""

from __future__ import annotations

import socket

import pytest

from chatapp.push import PushTarget, validate_webpush_endpoint
from chatapp.services.errors import ValidationError

from .conftest import message_payload
from .resolver import dns  # noqa: F401 (fixture)

PUBLIC = [
    "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
    "https://web.push.apple.com/QGw2o7",
    "https://8.8.8.8/push/1",
    "https://[2606:4700:4700::1111]/push/1",
    "https://push.example.com:8443/push/1",
]
FORGERY = [
    ("http://push.example.com/push/1", "https"),  # plain http
    ("https://127.0.0.1/push", "public host"),
    ("https://127.8.9.10/push", "public host"),
    ("https://[::1]/push", "public host"),
    ("https://10.1.2.3/push", "public host"),
    ("https://172.16.0.1/push", "public host"),
    ("https://172.31.255.254/push", "public host"),
    ("https://192.168.1.1/push", "public host"),
    ("https://169.254.169.254/latest/meta-data", "public host"),  # cloud metadata
    ("https://[fe80::1]/push", "public host"),
    ("https://[fc00::1]/push", "public host"),
    ("https://[fd12:3456::1]/push", "public host"),
    ("https://0.0.0.0/push", "public host"),
    ("https://[::]/push", "public host"),
    ("https://100.64.0.1/push", "public host"),  # CGNAT
    ("https://100.127.255.254/push", "public host"),
    ("https://[::ffff:127.0.0.1]/push", "public host"),  # IPv4-mapped
    ("https://[::ffff:10.0.0.1]/push", "public host"),
    ("https://[64:ff9b::7f00:1]/push", "public host"),  # NAT64 of 127.0.0.1
    ("https://[2002:7f00:1::]/push", "public host"),  # 6to4 of 127.0.0.1
    ("https://224.0.0.1/push", "public host"),  # multicast
    ("https://[ff0e::1]/push", "public host"),
    ("https://255.255.255.255/push", "public host"),
    ("https://240.0.0.1/push", "public host"),  # reserved
    ("https://198.18.0.1/push", "public host"),  # benchmarking
    ("https://192.0.2.1/push", "public host"),  # documentation
    ("https://localhost/push", "public host"),  # resolves to loopback
    ("https://2130706433/push", "public host"),  # 127.0.0.1 spelled as a number
    ("https://0x7f.1/push", "public host"),
    ("https://rebind.example/push", "public host"),  # a public-looking name on 127.0.0.1
    ("https://mixed.example/push", "public host"),  # one private answer among public ones
    ("https://internal.example/push", "public host"),  # a name on 10/8
    ("https://nonexistent.example/push", "does not resolve"),
    ("https://user:secret@push.example.com/push", "credentials"),
    ("ftp://push.example.com/push", "https"),
    ("https:///push", "no host"),
    ("https://push.example.com:99999/push", "not a valid URL"),
    ("https://push.example.com/a b", "spaces"),
    ("https://push.example.com/a\r\nX-Injected: 1", "control characters"),
    ("https://push.example.com/" + "a" * 2100, "2048"),
]
LOCAL = [
    "http://127.0.0.1:8080/push/1",
    "http://localhost:5000/push/1",
    "https://[::1]/push",
    "http://10.0.0.8/push",
    "http://rebind.example/push",
]


@pytest.fixture(autouse=True)
def names(dns) -> None:  # noqa: F811
    dns.names.update({
        "fcm.googleapis.com": ["142.250.74.106", "2a00:1450:4001:82b::200a"],
        "updates.push.services.mozilla.com": ["34.117.65.55"],
        "web.push.apple.com": ["17.188.182.14"],
        "push.example.com": ["93.184.215.14"],
        "rebind.example": ["127.0.0.1"],
        "mixed.example": ["93.184.215.14", "10.0.0.1"],
        "internal.example": ["10.20.30.40"],
    })  # fmt: skip


@pytest.mark.parametrize("url", PUBLIC)
def test_https_on_public_hosts_is_accepted(url) -> None:
    validate_webpush_endpoint(url, allow_insecure=False)


@pytest.mark.parametrize(("url", "reason"), FORGERY)
def test_anything_that_could_reach_inside_is_a_validation_error_on_endpoint(url, reason) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_webpush_endpoint(url, allow_insecure=False)
    assert refused.value.code == "validation_error"
    assert list(refused.value.extra["fields"]) == ["endpoint"]
    assert reason in refused.value.extra["fields"]["endpoint"]


@pytest.mark.parametrize("url", LOCAL)
def test_allow_insecure_lets_local_services_through(url) -> None:
    validate_webpush_endpoint(url, allow_insecure=True)


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/push", "http://user:pw@127.0.0.1/push", "http:///push", "http://127.0.0.1/a b"],
)
def test_allow_insecure_still_refuses_what_is_no_push_url(url) -> None:
    with pytest.raises(ValidationError):
        validate_webpush_endpoint(url, allow_insecure=True)


def test_an_endpoint_whose_name_moved_inside_is_refused_at_send_time(dns, make_sender, monkeypatch) -> None:  # noqa: F811
    """Valid when subscribed; by the time of the push its name resolves to loopback."""
    url = "https://push.example.com/push/abc"
    validate_webpush_endpoint(url, allow_insecure=False)
    dns.names["push.example.com"] = ["127.0.0.1"]
    connects: list[object] = []

    def create_connection(address: object, *args: object, **kwargs: object) -> socket.socket:
        connects.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", create_connection)
    sender = make_sender(PUSH_ALLOW_INSECURE=False)
    target = PushTarget("webpush", endpoint=url, p256dh=_P256DH, auth=_AUTH)

    outcome = sender.send(target, message_payload(), topic="c42")

    assert outcome.kind == "failed" and "public host" in outcome.detail
    assert connects == []


def test_an_endpoint_that_stopped_resolving_is_retried(dns, make_sender) -> None:  # noqa: F811
    target = PushTarget("webpush", endpoint="https://gone.example/push/abc", p256dh=_P256DH, auth=_AUTH)
    outcome = make_sender(PUSH_ALLOW_INSECURE=False).send(target, message_payload(), topic="c42")
    assert outcome.kind == "retry" and "does not resolve" in outcome.detail


def test_the_send_connects_to_the_address_it_checked(dns, make_sender) -> None:  # noqa: F811
    """One lookup per send, by the check; the connection goes to its answer (no
    second lookup a rebinding DNS server could answer differently)."""
    from tests.support.push_service import LocalPushService

    dns.names["push.test"] = ["127.0.0.1"]
    with LocalPushService(hostname="push.test") as service:
        sender = make_sender()
        subscription = service.new_subscription()
        keys = subscription["keys"]
        target = PushTarget("webpush", endpoint=subscription["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])
        dns.lookups.clear()

        assert sender.send(target, message_payload(), topic="c42").kind == "sent"

        assert dns.lookups.count("push.test") == 1
        assert service.received()[0].headers["host"] == f"push.test:{service.port}"
        assert service.errors == []


_P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
