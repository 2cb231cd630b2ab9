"""VAPID (RFC 8292): the server's P-256 key and the JWT that proves a push is ours.

The key is the application server key every browser subscription is bound to:
a new key orphans every subscription (the push services answer 403 until each
device subscribes again). So it comes from configuration, or is generated once
per installation into the instance folder and read on every later start.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config import ConfigError

from .jose import b64url, b64url_decode, sign_es256

log = logging.getLogger(__name__)

KEY_FILE = "vapid_private_key.pem"
DEFAULT_SUBJECT = "mailto:admin@localhost"
# Push services refuse an exp more than 24 h ahead (RFC 8292 section 2). 12 h
# leaves room for a clock that runs fast; re-signing an hour before exp means a
# token never expires on the way. One signature per audience per 11 h instead
# of one per push (an ES256 signature costs about as much as the encryption).
JWT_LIFETIME_SECONDS = 12 * 3600
RESIGN_BEFORE_SECONDS = 3600
# Audiences are push service origins (a handful: FCM, Mozilla, Apple, Microsoft);
# the bound only stops endpoints on many hostile origins from growing the cache.
MAX_AUDIENCES = 256
# Apple's push service answers 403 BadJwtToken to a subject on a host that cannot
# resolve (web-push-libs/web-push#947); Chrome and Firefox accept it.
_PLACEHOLDER_HOSTS = ("localhost", ".local", ".localhost", ".invalid", ".test", ".example", "example.com")


def load_private_key(configured: str | None, instance_path: str) -> ec.EllipticCurvePrivateKey:
    """CHAT_VAPID_PRIVATE_KEY when set, else the installation's generated key."""
    if configured and configured.strip():
        return parse_private_key(configured)
    return installation_key(Path(instance_path) / KEY_FILE)


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A PEM key (PKCS#8 or SEC 1; ``\\n`` escapes allowed, as environment files
    often carry them) or the base64url raw 32-byte scalar py-vapid and the
    web-push libraries print."""
    text = text.strip()
    key: object
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.replace("\\n", "\n").encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError("CHAT_VAPID_PRIVATE_KEY is not a readable unencrypted PEM private key") from None
    else:
        try:
            raw = b64url_decode(text)
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        except ValueError:
            raise ConfigError(
                "CHAT_VAPID_PRIVATE_KEY must be a PEM key or the base64url raw 32-byte P-256 private key"
            ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError("CHAT_VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key")
    return key


def installation_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Generated once, then read on every start. Workers of a fresh installation
    may start together: each writes a scratch file and links it into place
    (atomic, and fails when another worker was first); a loser reads the
    winner's key, so every worker ends with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        scratch = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())  # linked only once complete: nobody reads half a key
        try:
            os.link(scratch, path)
            log.info("generated the VAPID key %s (back it up: a new key orphans every subscription)", path)
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(
            f"{path} holds no P-256 private key: restore it from a backup "
            "(a new key orphans every push subscription), or delete it to generate one"
        )
    return key


def check_subject(subject: str) -> str:
    """RFC 8292 section 2.1: a contact the push service can reach, mailto: or https:."""
    subject = subject.strip()
    parts = urlsplit(subject)
    if parts.scheme == "mailto" and "@" in parts.path:
        host = parts.path.rpartition("@")[2].lower()
    elif parts.scheme == "https" and parts.hostname:
        host = parts.hostname
    else:
        raise ConfigError(f"CHAT_VAPID_SUBJECT={subject!r} must be a mailto: or https: URI (RFC 8292)")
    if host == "localhost" or host.endswith(_PLACEHOLDER_HOSTS):
        log.warning(
            "CHAT_VAPID_SUBJECT=%s is a placeholder: Apple's push service (Safari, iOS) refuses it; "
            "set a real contact address", subject,
        )  # fmt: skip
    return subject


class Vapid:
    """The application server's identity: its public key, and the signed
    ``Authorization`` value per push service origin (cached, re-signed before exp).
    Safe to share between threads: a race only signs the same token twice."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, subject: str, *, clock: Callable[[], float] = time.time):
        self._key = key
        self._subject = subject
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}  # audience -> (header value, re-sign after)
        point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.public_key = b64url(point)

    @property
    def subject(self) -> str:
        return self._subject

    def authorization(self, audience: str) -> str:
        """``vapid t=<JWT>, k=<public key>`` (RFC 8292 section 3) for this origin."""
        now = self._clock()
        cached = self._cache.get(audience)
        if cached is not None and now < cached[1]:
            return cached[0]
        exp = int(now) + JWT_LIFETIME_SECONDS
        token = sign_es256(self._key, {"aud": audience, "exp": exp, "sub": self._subject})
        value = f"vapid t={token}, k={self.public_key}"
        with self._lock:
            if audience not in self._cache and len(self._cache) >= MAX_AUDIENCES:
                self._cache.pop(next(iter(self._cache)))  # the oldest audience
            self._cache[audience] = (value, exp - RESIGN_BEFORE_SECONDS)
        return value
