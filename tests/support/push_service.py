"""Test doubles of the push services, over real HTTP on 127.0.0.1.

``LocalPushService`` is a Web Push service (RFC 8030) that checks each request
the way the real ones do and reads it the way a browser does: it verifies the
VAPID header (RFC 8292: ES256 with the key in ``k``, ``aud`` its own origin,
``exp`` ahead but at most 24 h, a ``sub``), checks TTL/Urgency/Topic, and
decrypts the body with the subscription's private key and auth secret
(RFC 8291). ``LocalFcm`` is Google's OAuth2 token endpoint (it verifies the
service account's RS256 assertion) and FCM's v1 send endpoint (bearer token,
message shape).

Both are written from the RFCs and Google's documentation with nothing but
``cryptography``, and import nothing from ``chatapp``: a server-side mistake
cannot be mirrored here and pass. Every check that fails is answered as the real
service would (400/401/403) and listed in ``errors``, so a test can also assert
that nothing was refused. Answers are scriptable per endpoint (or registration
token): a queue of ``(status, headers)``, ``(status, headers, body)`` or
``Answer`` (which can also stall or dribble), then the default success.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_PUSH_BODY = 4096  # RFC 8030 section 7.2: services must accept at least this; FCM, Mozilla: at most
RECORD_SIZE = 4096  # what the server under test promises to use
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCIES = ("very-low", "low", "normal", "high")
_FCM_RESERVED = ("from", "message_type", "notification")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decrypt_aes128gcm(body: bytes, ua_private: ec.EllipticCurvePrivateKey, auth_secret: bytes) -> tuple[bytes, int]:
    """The browser's side of RFC 8291 (one record): (plaintext, record size).
    Raises ValueError when the body is not a valid aes128gcm message for these keys."""
    if len(body) < 21:
        raise ValueError("shorter than the aes128gcm header")
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    as_public, ciphertext = body[21 : 21 + idlen], body[21 + idlen :]
    if idlen != 65 or len(ciphertext) > rs:
        raise ValueError(f"keyid of {idlen} bytes or more than one record (rs={rs}, {len(ciphertext)} bytes)")
    ua_public = ua_private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    shared = ua_private.exchange(ec.ECDH(), sender)

    def hkdf(salt_: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
        prk = hmac.new(salt_, ikm, "sha256").digest()
        return hmac.new(prk, info + b"\x01", "sha256").digest()[:length]

    ikm = hkdf(auth_secret, shared, b"WebPush: info\x00" + ua_public + as_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    try:
        padded = AESGCM(cek).decrypt(nonce, ciphertext, None)
    except Exception as exc:  # cryptography's InvalidTag
        raise ValueError("the record does not decrypt with these keys") from exc
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != 2:
        raise ValueError("the last record must end with the 0x02 delimiter")
    return stripped[:-1], rs


def _jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    head, claims, signature = token.split(".")
    return json.loads(unb64url(head)), json.loads(unb64url(claims)), f"{head}.{claims}".encode(), unb64url(signature)


def verify_vapid(authorization: str, audience: str, now: float) -> tuple[dict[str, Any], str]:
    """RFC 8292 section 3: ``vapid t=<JWT>, k=<key>``. Returns (claims, k); raises ValueError."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"Authorization scheme {scheme!r}, not vapid")
    values = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
    token, key = values.get("t"), values.get("k")
    if not token or not key:
        raise ValueError("vapid needs t= and k=")
    header, claims, signed, signature = _jwt_parts(token)
    if header.get("alg") != "ES256" or len(signature) != 64:
        raise ValueError(f"JWT alg {header.get('alg')!r} / signature of {len(signature)} bytes, not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT signature does not verify with k") from None
    if claims.get("aud") != audience:
        raise ValueError(f"aud {claims.get('aud')!r} is not {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or not now < exp <= now + 86400:
        raise ValueError(f"exp {exp!r} is not in the next 24 hours")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        raise ValueError(f"sub {sub!r} is not a mailto: or https: contact")
    return claims, key


@dataclass(frozen=True)
class Answer:
    """A scripted answer. ``delay``: seconds before anything is sent (a stalled
    service); ``dribble``: seconds between single bytes of the status line and
    headers (a hostile one that keeps each read alive)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    dribble: float = 0.0


AnswerSpec = Answer | tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes | dict[str, Any]]


def _as_answer(spec: AnswerSpec) -> Answer:
    if isinstance(spec, Answer):
        return spec
    status, headers, *rest = spec
    body: Any = rest[0] if rest else b""
    if isinstance(body, dict):
        return Answer(status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode())
    return Answer(status, dict(headers), body)


@dataclass(frozen=True)
class Received:
    """One push the service accepted for delivery, decrypted as the browser will see it."""

    endpoint: str
    headers: dict[str, str]  # lower-case names
    payload_json: Any
    time: float
    body: bytes = b""
    claims: dict[str, Any] = field(default_factory=dict)  # the VAPID JWT's
    record_size: int = 0


@dataclass(frozen=True)
class FcmReceived:
    token: str
    message: dict[str, Any]
    headers: dict[str, str]
    time: float


class _Refused(Exception):
    def __init__(self, status: int, reason: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.body = status, reason, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 drops the SYNs of a burst of green
    # threads connecting at once (each then waits a second to retransmit).
    request_queue_size = 128

    def __init__(self, service: _LocalService) -> None:
        self.service = service
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        self.service._connected(sock)
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real push services
    timeout = 10  # an idle kept-alive connection is dropped after this
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.service._handle(self.path, headers, body)
        self._write(answer)

    def _write(self, answer: Answer) -> None:
        if answer.delay:
            time.sleep(answer.delay)
        head = f"HTTP/1.1 {answer.status} {self.responses.get(answer.status, ('',))[0]}\r\n"
        extra = {"Content-Length": str(len(answer.body)), **answer.headers}
        head += "".join(f"{name}: {value}\r\n" for name, value in extra.items()) + "\r\n"
        try:
            if answer.dribble:
                for byte in head.encode("latin-1"):
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(answer.dribble)
                self.wfile.write(answer.body)
            else:  # one write: two small ones would meet Nagle and a delayed ACK (40 ms)
                self.wfile.write(head.encode("latin-1") + answer.body)
            self.wfile.flush()
        except OSError:  # the client gave up (it should, on a hostile answer)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _LocalService:
    """A threaded HTTP server on an ephemeral port; the state under one condition."""

    def __init__(self, hostname: str = "127.0.0.1") -> None:
        self.hostname = hostname  # as the URLs name it (a test's resolver may map it to 127.0.0.1)
        self._cond = threading.Condition()
        self.errors: list[str] = []
        self.connections = 0
        self._sockets: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self.hostname}:{self.port}"

    def start(self) -> Any:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self.drop_connections()  # kept-alive connections end with the service
        self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def drop_connections(self) -> None:
        """Close every open connection from this side (a service's idle timeout)."""
        with self._cond:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until ``predicate()`` holds (checked whenever the service records something)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"not within {timeout} s; errors: {self.errors}")
                self._cond.wait(remaining)

    def _connected(self, sock: socket.socket) -> None:
        with self._cond:
            self.connections += 1
            self._sockets.add(sock)

    def _refuse(self, refused: _Refused) -> Answer:
        with self._cond:
            self.errors.append(refused.reason)
            self._cond.notify_all()
        body = refused.body or {"reason": refused.reason}
        return Answer(refused.status, {"Content-Type": "application/json"}, json.dumps(body).encode())

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


@dataclass
class _Subscription:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    server_key: str | None


class LocalPushService(_LocalService):
    """A Web Push service: subscriptions, checked and decrypted pushes, scripted answers."""

    def __init__(self, hostname: str = "127.0.0.1") -> None:
        super().__init__(hostname)
        self._subscriptions: dict[str, _Subscription] = {}
        self._answers: dict[str, deque[Answer]] = defaultdict(deque)
        self._gone: set[str] = set()
        self._received: list[Received] = []

    def __enter__(self) -> LocalPushService:
        return self.start()  # type: ignore[no-any-return]

    def new_subscription(self, server_key: str | None = None) -> dict[str, Any]:
        """What ``PushManager.subscribe`` gives a page: a fresh P-256 key pair and
        16-byte auth secret held here. With ``server_key`` (the VAPID public key),
        pushes signed with another key are refused (403), as the real services do."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        endpoint = f"{self.origin}/push/{secrets.token_urlsafe(16)}"
        with self._cond:
            self._subscriptions[endpoint] = _Subscription(key, auth, server_key)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(auth)}}

    def script(self, endpoint: str, *answers: AnswerSpec) -> None:
        """The next answers for this endpoint, in order; then 201 again."""
        with self._cond:
            self._answers[endpoint].extend(_as_answer(answer) for answer in answers)

    def unsubscribe(self, endpoint: str) -> None:
        """The browser dropped the subscription: 410 from now on."""
        with self._cond:
            self._gone.add(endpoint)

    def received(self, endpoint: str | None = None) -> list[Received]:
        with self._cond:
            return [push for push in self._received if endpoint is None or push.endpoint == endpoint]

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        endpoint = self.origin + path
        with self._cond:
            subscription = self._subscriptions.get(endpoint)
            gone = endpoint in self._gone
        if subscription is None:
            return Answer(404, body=b"no such subscription")
        try:
            received = self._check(endpoint, subscription, headers, body)
        except _Refused as refused:
            return self._refuse(refused)
        with self._cond:
            queued = self._answers[endpoint]
            answer = queued.popleft() if queued else None
            if gone and answer is None:
                answer = Answer(410, body=b"unsubscribed")
            if answer is None or 200 <= answer.status < 300:
                self._received.append(received)  # only what the service took for delivery
            self._cond.notify_all()
        return answer or Answer(201, {"Location": f"{self.origin}/message/{secrets.token_hex(8)}"})

    def _check(self, endpoint: str, subscription: _Subscription, headers: dict[str, str], body: bytes) -> Received:
        now = time.time()
        try:
            claims, key = verify_vapid(headers.get("authorization", ""), self.origin, now)
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise _Refused(401, f"VAPID: {exc}") from None
        if subscription.server_key is not None and key != subscription.server_key:
            raise _Refused(403, "VAPID: k is not the key the subscription was created with")
        if headers.get("content-encoding") != "aes128gcm":
            raise _Refused(400, f"Content-Encoding {headers.get('content-encoding')!r}, not aes128gcm")
        ttl = headers.get("ttl")
        if ttl is None or not ttl.isdigit():
            raise _Refused(400, f"TTL {ttl!r} is not a number of seconds")
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in _URGENCIES:
            raise _Refused(400, f"Urgency {urgency!r}")
        topic = headers.get("topic")
        if topic is not None and not _TOPIC.fullmatch(topic):
            raise _Refused(400, f"Topic {topic!r} is not 1-32 URL-safe base64 characters")
        if len(body) > MAX_PUSH_BODY:
            raise _Refused(413, f"a body of {len(body)} bytes")
        try:
            plaintext, record_size = decrypt_aes128gcm(body, subscription.private_key, subscription.auth)
            payload = json.loads(plaintext)
        except ValueError as exc:
            raise _Refused(400, f"body: {exc}") from None
        if record_size != RECORD_SIZE:
            raise _Refused(400, f"record size {record_size}, not {RECORD_SIZE}")
        return Received(endpoint, headers, payload, now, body, claims, record_size)


@dataclass
class _Account:
    client_email: str
    public_key: rsa.RSAPublicKey


class LocalFcm(_LocalService):
    """FCM HTTP v1 and Google's token endpoint for one project."""

    def __init__(self, project_id: str = "chat-test", *, expires_in: int = 3600) -> None:
        super().__init__()
        self.project_id = project_id
        self.expires_in = expires_in
        self.token_fetches = 0
        self._accounts: list[_Account] = []
        self._tokens: dict[str, float] = {}  # issued access token -> expiry (time.time)
        self._token_answers: deque[Answer] = deque()
        self._answers: dict[str, deque[Answer]] = defaultdict(deque)
        self._received: list[FcmReceived] = []

    def __enter__(self) -> LocalFcm:
        return self.start()  # type: ignore[no-any-return]

    @property
    def token_url(self) -> str:
        return f"{self.origin}/token"

    @property
    def send_url(self) -> str:
        """As CHAT_FCM_SEND_URL: the sender fills in the project."""
        return f"{self.origin}/v1/projects/{{project_id}}/messages:send"

    def service_account(self, directory: Path) -> Path:
        """A service account JSON with a fresh RSA key, as Google's console downloads."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        email = f"push-{secrets.token_hex(3)}@{self.project_id}.iam.gserviceaccount.com"
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        document = {
            "type": "service_account", "project_id": self.project_id, "private_key_id": secrets.token_hex(20),
            "private_key": pem.decode(), "client_email": email, "client_id": "1" * 21,
            "token_uri": self.token_url,
        }  # fmt: skip
        with self._cond:
            self._accounts.append(_Account(email, key.public_key()))
        path = Path(directory) / f"service-account-{secrets.token_hex(3)}.json"
        path.write_text(json.dumps(document))
        return path

    def script(self, token: str, *answers: AnswerSpec) -> None:
        """The next answers to sends for this registration token; then 200."""
        with self._cond:
            self._answers[token].extend(_as_answer(answer) for answer in answers)

    def script_token(self, *answers: AnswerSpec) -> None:
        """The next answers of the token endpoint; then a fresh access token."""
        with self._cond:
            self._token_answers.extend(_as_answer(answer) for answer in answers)

    def revoke_tokens(self) -> None:
        """Every access token issued so far now answers 401 (revoked, rotated key)."""
        with self._cond:
            self._tokens.clear()

    def received(self, token: str | None = None) -> list[FcmReceived]:
        with self._cond:
            return [push for push in self._received if token is None or push.token == token]

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            if path == "/token":
                return self._issue(headers, body)
            if path == f"/v1/projects/{self.project_id}/messages:send":
                return self._send(headers, body)
        except _Refused as refused:
            return self._refuse(refused)
        return Answer(404, body=b"not found")

    def _issue(self, headers: dict[str, str], body: bytes) -> Answer:
        with self._cond:
            self.token_fetches += 1
            scripted = self._token_answers.popleft() if self._token_answers else None
            self._cond.notify_all()
        if scripted is not None:
            return scripted
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise _Refused(400, f"token request of type {headers.get('content-type')!r}")
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            raise _Refused(400, f"grant_type {form.get('grant_type')!r}", {"error": "unsupported_grant_type"})
        self._verify_assertion(form.get("assertion", ""))
        token = f"ya29.{secrets.token_urlsafe(24)}"
        with self._cond:
            self._tokens[token] = time.time() + self.expires_in
        answer = {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        return Answer(200, {"Content-Type": "application/json"}, json.dumps(answer).encode())

    def _verify_assertion(self, assertion: str) -> None:
        invalid = {"error": "invalid_grant"}
        try:
            header, claims, signed, signature = _jwt_parts(assertion)
        except (ValueError, json.JSONDecodeError):
            raise _Refused(400, "assertion is not a JWT", invalid) from None
        if header.get("alg") != "RS256":
            raise _Refused(400, f"assertion alg {header.get('alg')!r}", invalid)
        with self._cond:
            account = next((a for a in self._accounts if a.client_email == claims.get("iss")), None)
        if account is None:
            raise _Refused(400, f"assertion iss {claims.get('iss')!r} is no service account", invalid)
        try:
            account.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _Refused(400, "assertion signature does not verify", invalid) from None
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if claims.get("scope") != FCM_SCOPE:
            raise _Refused(400, f"assertion scope {claims.get('scope')!r}", invalid)
        if claims.get("aud") != self.token_url:
            raise _Refused(400, f"assertion aud {claims.get('aud')!r}", invalid)
        if not (isinstance(iat, int) and isinstance(exp, int) and iat <= now + 60 and now < exp <= iat + 3600):
            raise _Refused(400, f"assertion iat {iat!r} / exp {exp!r}", invalid)

    def _send(self, headers: dict[str, str], body: bytes) -> Answer:
        bearer = headers.get("authorization", "")
        with self._cond:
            expiry = self._tokens.get(bearer.removeprefix("Bearer ")) if bearer.startswith("Bearer ") else None
        if expiry is None or expiry <= time.time():
            raise _Refused(401, "no valid bearer token", _fcm_error(401, "UNAUTHENTICATED", "invalid credentials"))
        try:
            message = json.loads(body)["message"]
            _check_message(message)
        except (ValueError, KeyError, TypeError) as exc:
            raise _Refused(400, f"message: {exc}", _fcm_error(400, "INVALID_ARGUMENT", str(exc))) from None
        token = message["token"]
        with self._cond:
            queued = self._answers[token]
            answer = queued.popleft() if queued else None
            if answer is None or 200 <= answer.status < 300:
                self._received.append(FcmReceived(token, message, headers, time.time()))
            self._cond.notify_all()
        if answer is not None:
            return answer
        name = {"name": f"projects/{self.project_id}/messages/{secrets.randbelow(10**16)}"}
        return Answer(200, {"Content-Type": "application/json"}, json.dumps(name).encode())


def _fcm_error(code: int, status: str, message: str, error_code: str | None = None) -> dict[str, Any]:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code or status}]
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


def fcm_unregistered() -> tuple[int, dict[str, str], dict[str, Any]]:
    """FCM's answer for an app that was uninstalled."""
    return 404, {}, _fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")


def fcm_invalid_token() -> tuple[int, dict[str, str], dict[str, Any]]:
    """FCM's answer for a string that was never a registration token."""
    error = _fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
    error["error"]["details"].append({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
    })  # fmt: skip
    return 400, {}, error


def _strings(value: Any, what: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{what} must map strings to strings")


def _check_message(message: Any) -> None:
    """What FCM's v1 API refuses with INVALID_ARGUMENT (the parts this server uses)."""
    if not isinstance(message, dict):
        raise ValueError("not an object")
    targets = [name for name in ("token", "topic", "condition") if name in message]
    if targets != ["token"] or not isinstance(message["token"], str) or not message["token"]:
        raise ValueError(f"exactly one target, a token (got {targets})")
    unknown = set(message) - {"token", "data", "notification", "android", "apns", "webpush", "fcm_options", "name"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}")
    if "data" in message:
        _strings(message["data"], "data")
        reserved = [k for k in message["data"] if k in _FCM_RESERVED or k.startswith(("google", "gcm"))]
        if reserved:
            raise ValueError(f"reserved data keys {reserved}")
    android = message.get("android", {})
    if android.get("priority", "normal") not in ("normal", "high"):
        raise ValueError(f"android.priority {android.get('priority')!r}")
    if "collapse_key" in android and not isinstance(android["collapse_key"], str):
        raise ValueError("android.collapse_key must be a string")
    if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s", str(android["ttl"])):
        raise ValueError(f"android.ttl {android['ttl']!r}")
    apns = message.get("apns", {})
    if "headers" in apns:
        _strings(apns["headers"], "apns.headers")
    aps = apns.get("payload", {}).get("aps") if "payload" in apns else {}
    if not isinstance(aps, dict):
        raise ValueError("apns.payload.aps must be an object")
