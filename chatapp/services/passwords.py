"""Argon2id password hashing at OWASP's cost (not Werkzeug's scrypt default)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from .blocking import run_blocking


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_KIB"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return run_blocking(_hasher().hash, password)


def verify_password(password_hash: str, password: str) -> bool:
    hasher = _hasher()

    def verify() -> bool:
        try:
            return hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return run_blocking(verify)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other Argon2 parameters than today's config."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


# A fixed hash to verify against when the username does not exist, so that
# timing does not reveal which usernames are registered.
_DUMMY: dict[int, str] = {}


def dummy_verify(password: str) -> None:
    key = current_app.config["ARGON2_MEMORY_KIB"]
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("dummy-password-for-timing")
    verify_password(_DUMMY[key], password)
