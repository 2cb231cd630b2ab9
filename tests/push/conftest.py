"""Fixtures: the local push services (real HTTP on 127.0.0.1) and senders aimed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatapp.push import PushSender, PushTarget
from tests.support.push_service import LocalFcm, LocalPushService


@pytest.fixture
def push_service() -> Iterator[LocalPushService]:
    with LocalPushService() as service:
        yield service


@pytest.fixture
def fcm() -> Iterator[LocalFcm]:
    with LocalFcm() as service:
        yield service


@pytest.fixture
def make_sender(tmp_path: Path) -> Iterator[Callable[..., PushSender]]:
    """``make_sender(**settings)``: a PushSender from configuration, as create_app
    would build it, on a fresh instance folder; local services allowed."""
    senders: list[PushSender] = []

    def make(instance: Path | None = None, **settings: Any) -> PushSender:
        config = {"PUSH_ALLOW_INSECURE": True, "PUSH_TIMEOUT": 5.0, **settings}
        sender = PushSender.from_config(config, str(instance or tmp_path / "instance"))
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()


@pytest.fixture
def sender(make_sender: Callable[..., PushSender]) -> PushSender:
    return make_sender()


@pytest.fixture
def fcm_sender(make_sender: Callable[..., PushSender], fcm: LocalFcm, tmp_path: Path) -> PushSender:
    return make_sender(FCM_CREDENTIALS=str(fcm.service_account(tmp_path)), FCM_SEND_URL=fcm.send_url)


def webpush_target(subscription: dict[str, Any]) -> PushTarget:
    keys = subscription["keys"]
    return PushTarget("webpush", endpoint=subscription["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])


def message_payload(**overrides: Any) -> dict[str, Any]:
    """A ``message`` push as PROTOCOL.md defines it."""
    payload = {
        "type": "message", "conversation_id": 42, "message_id": 7, "seq": 3, "sender_id": 5,
        "title": "Ada", "body": "Lunch at one?", "mentioned": False, "total_unread": 2,
    }  # fmt: skip
    return {**payload, **overrides}
