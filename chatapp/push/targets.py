"""What the outbox worker hands the sender (a device) and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OutcomeKind = Literal["sent", "gone", "retry", "failed"]


@dataclass(frozen=True)
class PushTarget:
    """One registered device: a Web Push subscription or an FCM registration token."""

    type: Literal["webpush", "fcm"]
    endpoint: str | None = None  # webpush
    p256dh: str | None = None  # webpush, base64url uncompressed P-256 point
    auth: str | None = None  # webpush, base64url 16-byte secret
    token: str | None = None  # fcm registration token


@dataclass(frozen=True)
class Outcome:
    """What became of one push.

    ``sent``: the push service took it. ``gone``: the subscription no longer
    exists (Web Push 404/410, FCM UNREGISTERED or an invalid token): delete it.
    ``retry``: try again later, no sooner than ``retry_after`` seconds when the
    service said so (429, 5xx, timeouts, refused connections, DNS and TLS
    failures). ``failed``: retrying cannot help (a malformed target, an endpoint
    that now resolves to a private address, a request the service rejected).
    """

    kind: OutcomeKind
    status: int | None = None
    retry_after: float | None = None
    detail: str = ""
