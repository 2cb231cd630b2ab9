"""v2: the devices a user registered for push (Web Push subscriptions, FCM tokens)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from ..contract import objects as contract
from ..contract.limits import MAX_PUSH_ENDPOINT_CHARS, MAX_PUSH_SUBSCRIPTIONS, MAX_PUSH_TOKEN_CHARS
from ..contract.objects import as_dict
from ..extensions import db
from ..models import PushSubscription, User
from ..push.endpoints import validate_webpush_endpoint
from ..timeutil import iso, utcnow
from .accounts import parse_device_name
from .errors import NotFound, field_error
from .validation import entity_id, string


def _b64url_bytes(value: object, field: str, size: int, *, first: int | None = None) -> str:
    raw = string(value, field)
    assert raw is not None
    try:
        decoded = base64.urlsafe_b64decode(raw.strip() + "=" * (-len(raw.strip()) % 4))
    except (binascii.Error, ValueError):
        raise field_error(field, "must be base64url") from None
    if len(decoded) != size or (first is not None and decoded[0] != first):
        raise field_error(field, f"must be {size} bytes" + (" (an uncompressed P-256 point)" if first else ""))
    return base64.urlsafe_b64encode(decoded).rstrip(b"=").decode()


def _address(kind: str, endpoint: object, token: object) -> str:
    if kind == "webpush":
        url = string(endpoint, "endpoint")
        assert url is not None
        url = url.strip()
        if not url or len(url) > MAX_PUSH_ENDPOINT_CHARS:
            raise field_error("endpoint", f"1 to {MAX_PUSH_ENDPOINT_CHARS} characters")
        validate_webpush_endpoint(url, allow_insecure=current_app.config["PUSH_ALLOW_INSECURE"])
        return url
    value = string(token, "token")
    assert value is not None
    value = value.strip()
    if not value or len(value) > MAX_PUSH_TOKEN_CHARS or any(ch.isspace() for ch in value):
        raise field_error("token", f"1 to {MAX_PUSH_TOKEN_CHARS} characters without spaces")
    return value


def subscribe(user: User, token_id: int | None, kind: str, *, endpoint: object = None, p256dh: object = None,
              auth: object = None, token: object = None, device_name: object = None) -> tuple[dict[str, Any], bool]:
    """Register a device; the same endpoint or token again answers the same row
    (moved to this user and login when another had it: a shared device that
    changed hands must not keep notifying the previous user)."""
    address = _address(kind, endpoint, token)
    keys: dict[str, str | None] = {"p256dh": None, "auth": None}
    if kind == "webpush":
        keys = {
            "p256dh": _b64url_bytes(p256dh, "keys.p256dh", 65, first=4),
            "auth": _b64url_bytes(auth, "keys.auth", 16),
        }
    name = parse_device_name(device_name)
    row = db.session.scalar(select(PushSubscription).where(PushSubscription.address == address))
    created = row is None
    if row is None:
        row = PushSubscription(type=kind, address=address, created_at=utcnow())
        db.session.add(row)
    row.user_id, row.token_id, row.type = user.id, token_id, kind
    row.p256dh, row.auth = keys["p256dh"], keys["auth"]
    if name is not None or created:
        row.device_name = name
    db.session.flush()
    _evict_beyond_cap(user.id)
    data = _render(row)
    db.session.commit()
    return data, created


def _evict_beyond_cap(user_id: int) -> None:
    """Keep a user's newest MAX_PUSH_SUBSCRIPTIONS: registering never fails for a
    user with many old browsers, and one account cannot grow the table without bound."""
    ids = list(db.session.scalars(
        select(PushSubscription.id).where(PushSubscription.user_id == user_id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .offset(MAX_PUSH_SUBSCRIPTIONS)
    ))
    if ids:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


def _render(row: PushSubscription) -> dict[str, Any]:
    return as_dict(contract.PushSubscription(
        id=row.id, type=row.type, device_name=row.device_name, created_at=iso(row.created_at),  # type: ignore[arg-type]
    ))


def list_subscriptions(user: User) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(PushSubscription).where(PushSubscription.user_id == user.id).order_by(PushSubscription.id)
    )
    return [_render(row) for row in rows]


def unsubscribe(user: User, subscription_id: object) -> None:
    sid = entity_id(subscription_id, "subscription_id")
    row = db.session.get(PushSubscription, sid)
    if row is None or row.user_id != user.id:
        raise NotFound("no such subscription")
    db.session.delete(row)
    db.session.commit()


def forget_token(token_id: int) -> None:
    """A revoked login's devices stop being pushed (in the revoking transaction)."""
    db.session.execute(delete(PushSubscription).where(PushSubscription.token_id == token_id))


def forget_user(user_id: int) -> None:
    db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == user_id))
