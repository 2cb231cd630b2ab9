"""Compact JWS signing (ES256 for VAPID, RS256 for Google's JWT-bearer grant) on
``cryptography``: the two signatures this package needs do not justify PyJWT."""

from __future__ import annotations

import base64
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2, RFC 8291 keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Padded or unpadded base64url (standard base64 too); ValueError (binascii.Error)
    on any other character, where the stdlib default would silently skip it."""
    cleaned = text.strip().rstrip("=")
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), altchars=b"-_", validate=True)


def _signing_input(header: dict[str, Any], claims: dict[str, Any]) -> bytes:
    return (b64url(orjson.dumps(header)) + "." + b64url(orjson.dumps(claims))).encode("ascii")


def sign_es256(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any]) -> str:
    """ES256 wants the raw 64-byte r||s (RFC 7518 section 3.4), not OpenSSL's DER."""
    signing_input = _signing_input({"typ": "JWT", "alg": "ES256"}, claims)
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return signing_input.decode("ascii") + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def sign_rs256(key: rsa.RSAPrivateKey, claims: dict[str, Any], *, key_id: str | None = None) -> str:
    header: dict[str, Any] = {"typ": "JWT", "alg": "RS256"}
    if key_id:
        header["kid"] = key_id
    signing_input = _signing_input(header, claims)
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode("ascii") + "." + b64url(signature)
