"""CPU per push, measured: ``python -m tests.push.bench_push`` (not a test).

Prints microseconds per Web Push request build (encrypt + headers, the VAPID JWT
cached), its parts, the FCM request build, and a whole send to the local push
service over loopback. With http-ece and py-vapid importable (a scratch venv;
they are not dependencies) it times them on the same work, which is how
chatapp/push/webpush.py chose its own code.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from chatapp.push import PushSender, PushTarget
from chatapp.push.fcm import ServiceAccount
from chatapp.push.jose import b64url_decode, sign_es256
from chatapp.push.webpush import encrypt
from tests.support.push_service import LocalFcm, LocalPushService

PAYLOAD = {
    "type": "message", "conversation_id": 42, "message_id": 123456, "seq": 789, "sender_id": 5,
    "title": "Ada Lovelace", "body": "Lunch at one? " * 14, "mentioned": False, "total_unread": 3,
}  # fmt: skip


def per_call_us(work: Callable[[], object], seconds: float = 1.0) -> float:
    """The fastest of ten runs, each about seconds/10 long: on a shared machine the
    minimum is the cost of the work, the rest is other processes' noise."""
    work()
    runs = []
    for _ in range(10):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 10:
            for _ in range(10):
                work()
            count += 10
        runs.append((time.perf_counter() - started) / count * 1e6)
    return min(runs)


def main() -> None:
    instance = tempfile.mkdtemp(prefix="bench-push-")
    sender = PushSender.from_config({"PUSH_ALLOW_INSECURE": True, "VAPID_SUBJECT": "mailto:ops@chat.example.org"},
                                    instance)  # fmt: skip
    with LocalPushService() as service:
        subscription = service.new_subscription()
        keys = subscription["keys"]
        target = PushTarget("webpush", endpoint=subscription["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"])
        import orjson

        plaintext = orjson.dumps(PAYLOAD)
        ua_public, auth = b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"])
        key = ec.generate_private_key(ec.SECP256R1())
        rows = [
            ("webpush build: encrypt + headers, JWT cached", lambda: sender.build_webpush(
                target, plaintext, topic="c42", urgency="high", ttl=86400)),
            ("  of which encrypt (RFC 8291)", lambda: encrypt(plaintext, ua_public, auth, salt=os.urandom(16))),
            ("  ES256 JWT signature (once per audience per 11 h)", lambda: sign_es256(
                key, {"aud": service.origin, "exp": 2_000_000_000, "sub": "mailto:ops@chat.example.org"})),
        ]  # fmt: skip
        rows += _libraries(plaintext, subscription, service.origin)
        rows.append(("webpush send over loopback (incl. the double's checks)", lambda: sender.send(
            target, PAYLOAD, topic="c42")))  # fmt: skip
        with LocalFcm() as fcm:
            account = ServiceAccount.load(str(fcm.service_account(Path(instance))))
            fcm_sender = PushSender(sender.vapid, transport=sender.transport, fcm_account=account,
                                    fcm_send_url=fcm.send_url)  # fmt: skip
            assert fcm_sender.fcm is not None
            client = fcm_sender.fcm
            device = PushTarget("fcm", token="bench-device")
            rows.append(("fcm build: message + JSON", lambda: client.build(
                "bench-device", PAYLOAD, collapse_key="c42", ttl=86400, urgency="high")))  # fmt: skip
            rows.append(("fcm send over loopback (token cached)", lambda: fcm_sender.send(
                device, PAYLOAD, topic="c42")))  # fmt: skip
            for name, work in rows:
                print(f"{per_call_us(work):9.1f} us  {name}")
    sender.close()


Row = tuple[str, Callable[[], object]]


def _libraries(plaintext: bytes, subscription: dict[str, object], audience: str) -> list[Row]:
    try:
        import http_ece  # type: ignore[import-not-found]
        from py_vapid import Vapid02  # type: ignore[import-not-found]
    except ImportError:
        print("(http-ece / py-vapid not importable: library rows skipped)")
        return []
    keys = subscription["keys"]
    assert isinstance(keys, dict)
    ua_public, auth = b64url_decode(keys["p256dh"]), b64url_decode(keys["auth"])
    vapid = Vapid02()
    vapid.generate_keys()
    claims = {"aud": audience, "sub": "mailto:ops@chat.example.org", "exp": int(time.time()) + 3600}

    def ece() -> bytes:
        return http_ece.encrypt(plaintext, salt=os.urandom(16), private_key=ec.generate_private_key(ec.SECP256R1()),
                                dh=ua_public, auth_secret=auth, version="aes128gcm", rs=4096)  # fmt: skip

    def ece_and_vapid() -> tuple[bytes, dict[str, str]]:
        return ece(), vapid.sign(dict(claims))

    return [("http-ece encrypt", ece), ("http-ece encrypt + py-vapid sign (no cache in py-vapid)", ece_and_vapid)]


if __name__ == "__main__":
    main()
