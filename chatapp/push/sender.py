"""PushSender: one call per push, ``send(target, payload, topic=...) -> Outcome``.

What the outbox worker calls, from as many threads or green threads as it
likes: the VAPID token cache, the FCM access token and the kept-alive
connections are shared and locked where they must be. ``send`` never raises
for network trouble (timeouts, refused connections, DNS and TLS failures are
``retry``) nor for a malformed target (``failed``); it raises ValueError only
for arguments no push could carry (a bad ``topic``, ``urgency`` or ``ttl``, a
payload that is not JSON): those are bugs of the caller.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult

import orjson

from config import ConfigError

from . import endpoints, webpush
from .endpoints import EndpointRefused
from .fcm import DEFAULT_SEND_URL, FcmClient, ServiceAccount
from .jose import b64url_decode
from .targets import Outcome, PushTarget
from .transport import MAX_IDLE_PER_ORIGIN, Response, Transport, TransportError
from .vapid import DEFAULT_SUBJECT, Vapid, check_subject, load_private_key

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 5.0


class PushSender:
    def __init__(self, vapid: Vapid, *, transport: Transport, allow_insecure: bool = False,
                 fcm_account: ServiceAccount | None = None, fcm_send_url: str = DEFAULT_SEND_URL,
                 fcm_token_url: str | None = None) -> None:  # fmt: skip
        self.vapid = vapid
        self.transport = transport
        self.allow_insecure = allow_insecure
        self.fcm: FcmClient | None = None
        if fcm_account is not None:
            self.fcm = FcmClient(
                fcm_account, send_url=fcm_send_url, token_url=fcm_token_url or fcm_account.token_uri,
                post=self._post_configured,
            )  # fmt: skip

    @classmethod
    def from_config(cls, config: Mapping[str, Any], instance_path: str) -> PushSender:
        """CHAT_VAPID_PRIVATE_KEY (else the key generated once into the instance
        folder), CHAT_VAPID_SUBJECT, CHAT_FCM_CREDENTIALS / _SEND_URL / _TOKEN_URL,
        CHAT_PUSH_ALLOW_INSECURE, CHAT_PUSH_TIMEOUT (seconds for a whole exchange)."""
        configured = config.get("PUSH_TIMEOUT")
        timeout = DEFAULT_TIMEOUT_SECONDS if configured is None else float(configured)
        if not timeout > 0:
            raise ConfigError(f"CHAT_PUSH_TIMEOUT={timeout} must be a positive number of seconds")
        key = load_private_key(config.get("VAPID_PRIVATE_KEY"), instance_path)
        vapid = Vapid(key, check_subject(config.get("VAPID_SUBJECT") or DEFAULT_SUBJECT))
        credentials = config.get("FCM_CREDENTIALS")
        # Idle connections for every push in flight: fewer, and each batch reconnects (a TLS handshake each).
        in_flight = int(config.get("PUSH_CONCURRENCY") or 0)
        transport = Transport(timeout, max_idle=max(MAX_IDLE_PER_ORIGIN, in_flight))
        return cls(
            vapid, transport=transport, allow_insecure=bool(config.get("PUSH_ALLOW_INSECURE")),
            fcm_account=ServiceAccount.load(credentials) if credentials else None,
            fcm_send_url=config.get("FCM_SEND_URL") or DEFAULT_SEND_URL,
            fcm_token_url=config.get("FCM_TOKEN_URL") or None,
        )  # fmt: skip

    @property
    def public_key(self) -> str:
        """The VAPID application server key: base64url, uncompressed P-256 point (65 bytes)."""
        return self.vapid.public_key

    def send(
        self, target: PushTarget, payload: dict[str, Any], *, topic: str, urgency: str = "high",
        ttl: int = 86400, collapse_key: str | None = None,
    ) -> Outcome:  # fmt: skip
        """``topic`` is the Web Push Topic (a later push with it replaces an
        earlier one still queued); FCM's collapse key is ``collapse_key``, else
        the topic. ``ttl`` seconds a push service keeps an undelivered push."""
        if urgency not in webpush.URGENCIES:
            raise ValueError(f"urgency must be one of {', '.join(webpush.URGENCIES)}")
        if not webpush.TOPIC.fullmatch(topic):
            raise ValueError("topic: 1 to 32 characters of the URL-safe base64 alphabet")
        if not isinstance(ttl, int) or ttl < 0:
            raise ValueError("ttl: a whole number of seconds, 0 or more")
        kind = str(target.type)  # a Literal to the checker, a database column's text at run time
        if kind == "webpush":
            return self._send_webpush(target, orjson.dumps(payload), topic=topic, urgency=urgency, ttl=ttl)
        if kind == "fcm":
            if self.fcm is None:
                return Outcome("failed", detail="FCM is not configured (CHAT_FCM_CREDENTIALS)")
            if not target.token:
                return Outcome("failed", detail="an FCM target without a token")
            key = collapse_key or topic
            return self.fcm.send(target.token, payload, collapse_key=key, ttl=ttl, urgency=urgency)
        return Outcome("failed", detail=f"unknown target type {kind!r}")

    def build_webpush(
        self, target: PushTarget, plaintext: bytes, *, topic: str | None, urgency: str, ttl: int,
    ) -> tuple[SplitResult, dict[str, str], bytes] | Outcome:  # fmt: skip
        """The request for one subscription (URL, headers, encrypted body) without
        any lookup or I/O, or the ``failed`` outcome of a malformed target."""
        if not (target.endpoint and target.p256dh and target.auth):
            return Outcome("failed", detail="a webpush target needs endpoint, p256dh and auth")
        try:
            ua_public, auth = b64url_decode(target.p256dh), b64url_decode(target.auth)
        except ValueError:
            return Outcome("failed", detail="p256dh and auth must be base64url")
        if len(auth) != 16:
            return Outcome("failed", detail="auth must be 16 bytes")
        if len(plaintext) > webpush.MAX_PLAINTEXT:
            return Outcome("failed", detail=f"payload over {webpush.MAX_PLAINTEXT} bytes")
        try:
            parts = endpoints.parse(target.endpoint, allow_insecure=self.allow_insecure)
        except EndpointRefused as refused:
            return Outcome("failed", detail=f"endpoint {refused.reason}")
        try:
            body = webpush.encrypt(plaintext, ua_public, auth, salt=os.urandom(16))
        except ValueError:
            return Outcome("failed", detail="p256dh is not a P-256 public key")
        authorization = self.vapid.authorization(webpush.origin(parts))
        return parts, webpush.headers(authorization, ttl=ttl, urgency=urgency, topic=topic), body

    def _send_webpush(self, target: PushTarget, plaintext: bytes, *, topic: str, urgency: str, ttl: int) -> Outcome:
        built = self.build_webpush(target, plaintext, topic=topic, urgency=urgency, ttl=ttl)
        if isinstance(built, Outcome):
            return built
        parts, headers, body = built
        try:
            # Checked again at every send: the name may resolve elsewhere since it subscribed.
            addresses = endpoints.resolve(parts, allow_insecure=self.allow_insecure)
        except EndpointRefused as refused:
            return Outcome("retry" if refused.temporary else "failed", detail=f"endpoint {refused.reason}")
        try:
            response = self.transport.post(parts, addresses, headers, body)
        except TransportError as exc:
            return Outcome("retry", detail=str(exc))
        return webpush.classify(response)

    def _post_configured(self, parts: SplitResult, headers: Mapping[str, str], body: bytes) -> Response:
        """FCM's URLs come from configuration, not from users: resolved, not checked
        (tests and private relays run on local addresses)."""
        try:
            addresses = endpoints.resolve(parts, allow_insecure=True)
        except EndpointRefused as refused:
            raise TransportError(refused.reason) from None
        return self.transport.post(parts, addresses, headers, body)

    def close(self) -> None:
        """Close the kept-alive connections (shutdown, tests)."""
        self.transport.close()
