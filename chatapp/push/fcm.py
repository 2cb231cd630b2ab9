"""FCM HTTP v1 (React Native and Flutter apps; iOS through FCM's APNs relay).

An OAuth2 access token from the service account (JWT-bearer grant, RS256
assertion), cached until shortly before it expires and shared by every thread:
many sends starting at once cause one fetch, and a fetch that fails answers
every sender that waited for it (no queue of timeouts one after another).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlencode, urlsplit

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config import ConfigError

from .jose import sign_rs256
from .targets import Outcome
from .transport import Response, TransportError, parse_retry_after, snippet

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_SEND_URL = "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"
ASSERTION_LIFETIME_SECONDS = 3600  # Google's maximum
# Google's tokens last an hour; fetching 5 minutes early means one never expires
# on the way (a tenth of the lifetime for shorter ones).
REFRESH_MARGIN_SECONDS = 300.0
MAX_COLLAPSE_KEY_BYTES = 64  # apns-collapse-id's limit (Android's is larger)

Post = Callable[[SplitResult, Mapping[str, str], bytes], Response]


@dataclass(frozen=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key: rsa.RSAPrivateKey
    token_uri: str
    private_key_id: str | None = None

    @classmethod
    def load(cls, path: str) -> ServiceAccount:
        """The JSON file Google's console downloads (CHAT_FCM_CREDENTIALS)."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"CHAT_FCM_CREDENTIALS={path!r} is not a readable JSON file ({exc})") from None
        fields = ("project_id", "client_email", "private_key", "token_uri")
        if not isinstance(data, dict) or not all(isinstance(data.get(name), str) and data[name] for name in fields):
            raise ConfigError(f"CHAT_FCM_CREDENTIALS={path!r} must be a service account JSON with {', '.join(fields)}")
        try:
            key = serialization.load_pem_private_key(data["private_key"].encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"CHAT_FCM_CREDENTIALS={path!r}: private_key is not an RSA private key")
        key_id = data.get("private_key_id")
        key_id = key_id if isinstance(key_id, str) else None
        return cls(data["project_id"], data["client_email"], key, data["token_uri"], key_id)


class FcmRefused(Exception):
    """No access token to send with: the outcome every waiting send reports."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.detail)
        self.outcome = outcome


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # monotonic


class AccessTokens:
    def __init__(
        self, account: ServiceAccount, token_url: str, post: Post, *,
        clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._account = account
        # The assertion's aud is the URL it is posted to: Google's token_uri,
        # or the CHAT_FCM_TOKEN_URL that replaces it.
        self._url = token_url
        self._parts = urlsplit(token_url)
        self._post = post
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._failure: tuple[Outcome, float] | None = None

    def get(self) -> str:
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        waited_since = self._clock()
        with self._lock:
            token = self._token
            if token is not None and self._clock() < token.refresh_at:
                return token.value
            if self._failure is not None and self._failure[1] >= waited_since:
                raise FcmRefused(self._failure[0])  # the fetch this send waited for failed
            try:
                self._token = self._fetch()
            except FcmRefused as refused:
                self._failure = (refused.outcome, self._clock())
                raise
            return self._token.value

    def invalidate(self, value: str) -> None:
        """The send service refused this token (401): the next get() fetches anew,
        unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch(self) -> _Token:
        now = int(self._wall())
        claims = {"iss": self._account.client_email, "scope": SCOPE, "aud": self._url,
                  "iat": now, "exp": now + ASSERTION_LIFETIME_SECONDS}  # fmt: skip
        assertion = sign_rs256(self._account.private_key, claims, key_id=self._account.private_key_id)
        form = urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}).encode()
        started = self._clock()
        try:
            response = self._post(self._parts, {"Content-Type": "application/x-www-form-urlencoded"}, form)
        except TransportError as exc:
            raise FcmRefused(Outcome("retry", detail=f"token: {exc}")) from None
        if response.status != 200:
            later = response.status == 429 or response.status >= 500
            raise FcmRefused(Outcome(
                "retry" if later else "failed", response.status,
                parse_retry_after(response.header("retry-after")) if later else None,
                f"token: {snippet(response.body)}",
            ))  # fmt: skip
        try:
            answer = orjson.loads(response.body)
            value, lifetime = answer["access_token"], float(answer.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise FcmRefused(Outcome("failed", 200, detail="token: no access_token in the answer")) from None
        if not isinstance(value, str) or not value or lifetime <= 0:
            raise FcmRefused(Outcome("failed", 200, detail="token: no access_token in the answer"))
        return _Token(value, started + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 10))


def message(
    token: str, payload: Mapping[str, Any], *, collapse_key: str, ttl: int, urgency: str, now: float,
) -> dict[str, Any]:  # fmt: skip
    """The v1 ``message``: a data message (the app renders the notification on
    Android; FCM wants every data value a string, so non-strings go as JSON),
    and for iOS an APNs alert the system shows even when the app is not running.

    A ``read`` push is data-only and in the background (APNs requires priority
    5 and ``content-available`` for ``apns-push-type: background``; Android
    normal priority, as FCM asks of messages that show nothing): it wakes the
    app to dismiss the conversation's notification. Both carry the collapse key,
    so a device holds one pending push per conversation."""
    data = {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in payload.items()}
    android: dict[str, Any] = {"collapse_key": collapse_key, "ttl": f"{ttl}s"}
    apns_headers = {"apns-collapse-id": collapse_key, "apns-expiration": str(int(now) + ttl if ttl else 0)}
    if payload.get("type") == "read":
        android["priority"] = "normal"
        apns_headers.update({"apns-push-type": "background", "apns-priority": "5"})
        aps: dict[str, Any] = {"content-available": 1}
    else:
        android["priority"] = "high" if urgency == "high" else "normal"
        apns_headers.update({"apns-push-type": "alert", "apns-priority": "10" if urgency == "high" else "5"})
        alert = {"title": str(payload.get("title", "")), "body": str(payload.get("body", ""))}
        aps = {"alert": alert, "mutable-content": 1}
    apns = {"headers": apns_headers, "payload": {"aps": aps}}
    return {"token": token, "data": data, "android": android, "apns": apns}


def classify(response: Response) -> Outcome:
    """FCM's documented errors: UNREGISTERED (404) and an invalid token (400 on
    ``message.token``) mean the registration is gone; 429 and 5xx later; the
    rest (another INVALID_ARGUMENT, SENDER_ID_MISMATCH, PERMISSION_DENIED) is a
    request or configuration problem that deleting the device would not fix."""
    status = response.status
    if 200 <= status < 300:
        return Outcome("sent", status)
    status_name, codes, token_field, text = _error(response.body)
    detail = " ".join(filter(None, [status_name, *sorted(codes), text]))[:200]
    if status == 404 or "UNREGISTERED" in codes:
        return Outcome("gone", status, detail=detail)
    if status == 400 and (token_field or "registration token" in text.lower()):
        return Outcome("gone", status, detail=detail)
    if status == 429 or status >= 500:
        return Outcome("retry", status, parse_retry_after(response.header("retry-after")), detail)
    return Outcome("failed", status, detail=detail or snippet(response.body))


def _error(body: bytes) -> tuple[str, set[str], bool, str]:
    """(status, FcmError codes, whether a field violation names the token, message)."""
    try:
        error = orjson.loads(body)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "", set(), False, snippet(body)
    if not isinstance(error, dict):
        return "", set(), False, ""
    codes: set[str] = set()
    token_field = False
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("errorCode"), str):
            codes.add(detail["errorCode"])
        for violation in detail.get("fieldViolations") or []:
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                token_field = True
    return str(error.get("status") or ""), codes, token_field, str(error.get("message") or "")


class FcmClient:
    """Sends one message per call; a 401 drops the cached token and sends once more."""

    def __init__(
        self, account: ServiceAccount, *, send_url: str, token_url: str, post: Post,
        clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.project_id = account.project_id
        self.tokens = AccessTokens(account, token_url, post, clock=clock, wall=wall)
        self._send = urlsplit(send_url.replace("{project_id}", account.project_id))
        self._post = post
        self._wall = wall

    def build(self, token: str, payload: Mapping[str, Any], *, collapse_key: str, ttl: int, urgency: str) -> bytes:
        shaped = message(token, payload, collapse_key=collapse_key, ttl=ttl, urgency=urgency, now=self._wall())
        return orjson.dumps({"message": shaped})

    def send(self, token: str, payload: Mapping[str, Any], *, collapse_key: str, ttl: int, urgency: str) -> Outcome:
        if len(collapse_key.encode()) > MAX_COLLAPSE_KEY_BYTES:
            raise ValueError(f"collapse_key: at most {MAX_COLLAPSE_KEY_BYTES} bytes")
        body = self.build(token, payload, collapse_key=collapse_key, ttl=ttl, urgency=urgency)
        for attempt in (1, 2):
            try:
                access = self.tokens.get()
            except FcmRefused as refused:
                return refused.outcome
            headers = {"Authorization": f"Bearer {access}", "Content-Type": "application/json; charset=utf-8"}
            try:
                response = self._post(self._send, headers, body)
            except TransportError as exc:
                return Outcome("retry", detail=str(exc))
            if response.status == 401 and attempt == 1:
                self.tokens.invalidate(access)  # revoked or expired early: a fresh token, once
                continue
            return classify(response)
        raise AssertionError("unreachable")
