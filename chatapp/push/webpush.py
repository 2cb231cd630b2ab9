"""Web Push message encryption (RFC 8291, ``aes128gcm`` of RFC 8188), the request
headers (RFC 8030, 8292) and what a push service's answer means.

Own code on ``cryptography`` rather than http-ece + py-vapid (pywebpush would
bring aiohttp and its seven dependencies on top). Measured on the 2-core dev machine
(``python -m tests.push.bench_push``, fastest of ten runs, 2026-12): our encrypt
121-145 us per push against http-ece's 145-175 us on the same work; a whole
request build (encrypt + headers, the VAPID JWT cached) 135-165 us against
220-250 us for http-ece plus py-vapid, which signs a JWT per push (no cache).
Either way the CPU is OpenSSL's: one ECDH (about 60 us) and one ephemeral key
(15 us); what decides is the signature cache and two dependencies fewer, and the
lines below are pinned to RFC 8291 Appendix A's published vector
(tests/push/test_webpush_encryption.py).
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import SplitResult

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .targets import Outcome
from .transport import Response, parse_retry_after, snippet

# One record holds the whole message. RFC 8291 section 4: push services accept
# bodies of 4096 bytes, which leaves 3993 bytes of plaintext after the 86-byte
# header (salt 16, rs 4, idlen 1, key 65), the 16-byte tag and the delimiter.
RECORD_SIZE = 4096
MAX_PLAINTEXT = 4096 - 86 - 16 - 1
URGENCIES = ("very-low", "low", "normal", "high")
# RFC 8030 section 5.4: at most 32 characters of the URL-safe base64 alphabet.
TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")

_CURVE = ec.SECP256R1()
_KEY_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"


def encrypt(
    plaintext: bytes, ua_public: bytes, auth_secret: bytes, *, salt: bytes,
    private_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:  # fmt: skip
    """The ``aes128gcm`` body for one subscription: a fresh ephemeral ECDH key
    (``private_key`` only for the RFC's test vector) and the caller's fresh salt.
    Raises ValueError when ``ua_public`` is not a P-256 point."""
    receiver = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ua_public)
    sender = private_key or ec.generate_private_key(_CURVE)
    as_public = sender.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = sender.exchange(ec.ECDH(), receiver)
    # HKDF with outputs of at most one SHA-256 block: Extract is one HMAC and
    # Expand is HMAC(prk, info || 0x01); hmac.digest runs both in C.
    ikm = hmac.digest(hmac.digest(auth_secret, shared, "sha256"), _KEY_INFO + ua_public + as_public + b"\x01", "sha256")
    prk = hmac.digest(salt, ikm, "sha256")
    cek = hmac.digest(prk, _CEK_INFO, "sha256")[:16]
    nonce = hmac.digest(prk, _NONCE_INFO, "sha256")[:12]
    ciphertext = AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)  # 0x02: the last (only) record
    return salt + RECORD_SIZE.to_bytes(4, "big") + bytes([len(as_public)]) + as_public + ciphertext


def origin(parts: SplitResult) -> str:
    """The VAPID ``aud``: the endpoint's origin as RFC 6454 serializes it (the
    default port left out)."""
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def headers(authorization: str, *, ttl: int, urgency: str, topic: str | None) -> dict[str, str]:
    result = {
        "Authorization": authorization,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(ttl),
        "Urgency": urgency,
    }
    if topic:
        result["Topic"] = topic
    return result


def classify(response: Response) -> Outcome:
    """RFC 8030 section 7 and what the big push services document: 201 taken,
    404/410 the subscription is gone, 429/5xx later. Anything else is a request
    the service will refuse again (413 too large, 400/401/403: e.g. a key other
    than the one the browser subscribed with), so retrying cannot help."""
    status = response.status
    if 200 <= status < 300:
        return Outcome("sent", status)
    if status in (404, 410):
        return Outcome("gone", status, detail=snippet(response.body))
    if status == 429 or status >= 500:
        return Outcome("retry", status, parse_retry_after(response.header("retry-after")), snippet(response.body))
    if 300 <= status < 400:
        return Outcome("failed", status, detail="redirect not followed")
    return Outcome("failed", status, detail=snippet(response.body))
