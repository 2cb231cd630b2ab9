"""Accounts: registration, login, bearer tokens, user search."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, cast

from flask import current_app
from sqlalchemy import ColumnElement, DateTime, Integer, String, Table, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ..contract import events as contract
from ..extensions import db
from ..models import ApiToken, PushSubscription, User
from ..prepared import Prepared
from ..timeutil import utcnow
from . import events, presence, ratelimit
from .errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationError, field_error
from .passwords import dummy_verify, hash_password, needs_rehash, verify_password
from .validation import MISSING, UNSTORABLE, clamp_limit, escape_like, integer, storable, string, text

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
# How closed accounts appear (models.user): nobody may register a name that reads as one.
RESERVED_USERNAME_RE = re.compile(r"^deleted-[0-9]+$")
MIN_PASSWORD_CHARS = 8
# Argon2 inputs beyond this are refused: hashing megabytes is a DoS lever.
MAX_PASSWORD_CHARS = 1024
# last_used_at is written at most this often per token, not on every request.
TOKEN_TOUCH_SECONDS = 60


@dataclass
class Session:
    user: User
    token: str
    token_row: ApiToken


def normalize_username(value: object) -> str:
    raw = string(value, "username")
    assert raw is not None
    username = raw.strip().lower()
    if not USERNAME_RE.match(username):
        raise field_error("username", "3-32 characters of a-z, 0-9, _ . -")
    return username


def _password(value: object, field: str = "password") -> str:
    password = string(value, field)
    assert password is not None
    if len(password) < MIN_PASSWORD_CHARS:
        raise field_error(field, f"at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise field_error(field, f"at most {MAX_PASSWORD_CHARS} characters")
    return password


def _display_name(value: object, default: str) -> str:
    if value is MISSING or value is None:
        return default
    # text(): a name of zero-width characters only is empty.
    try:
        return text(value, "display_name", max_chars=64)
    except ValidationError as exc:
        if exc.extra["fields"]["display_name"] in ("must be a string", UNSTORABLE):
            raise
        raise field_error("display_name", "1 to 64 characters") from None


def parse_display_name(value: object) -> str:
    """A new display name (PATCH /me): required, 1-64 code points after trimming."""
    if value is MISSING or value is None:
        raise field_error("display_name", "required")
    return _display_name(value, "")


def parse_device_name(value: object) -> str | None:
    name = string(value, "device_name", required=False)
    if name is None:
        return None
    name = name.strip()
    if len(name) > 100:
        raise field_error("device_name", "at most 100 characters")
    return name or None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue_token(user: User, device_name: str | None) -> tuple[str, ApiToken]:
    token = secrets.token_urlsafe(32)  # 256 bits
    row = ApiToken(user_id=user.id, token_hash=hash_token(token), device_name=device_name)
    db.session.add(row)
    return token, row


def register(
    username: object, password: object, display_name: object = MISSING, device_name: object = None,
    client_ip: str | None = None,
) -> Session:
    name = normalize_username(username)
    secret = _password(password)
    shown = _display_name(display_name, name)
    device = parse_device_name(device_name)
    # After the cheap checks, before the Argon2 hash (the expensive part).
    ratelimit.check_register(client_ip)
    # A closed account keeps its username: nobody can take it over (and its messages).
    if RESERVED_USERNAME_RE.match(name) or db.session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict("username is taken")
    user = User(username=name, display_name=shown, password_hash=hash_password(secret))
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("username is taken") from None
    token, row = _issue_token(user, device)
    db.session.commit()
    return Session(user, token, row)


def login(username: object, password: object, device_name: object = None, client_ip: str | None = None) -> Session:
    # Only the type is checked before authenticating: a bad shape is a 400,
    # a wrong name or password is the same 401 either way.
    raw_name = string(username, "username")
    secret = string(password, "password")
    assert raw_name is not None and secret is not None
    name = raw_name.strip().lower()
    device = parse_device_name(device_name)
    ratelimit.check_login(name, client_ip)
    user = db.session.scalar(select(User).where(User.username == name)) if len(name) <= 32 else None
    if user is None or len(secret) > MAX_PASSWORD_CHARS:
        dummy_verify(secret[:MAX_PASSWORD_CHARS])
        raise Unauthorized("wrong username or password")
    if not verify_password(user.password_hash, secret) or not user.active:
        raise Unauthorized("wrong username or password")
    if needs_rehash(user.password_hash):
        # The Argon2 parameters were raised since this hash was made: upgrade it
        # now, the only moment the plain password is at hand.
        user.password_hash = hash_password(secret)
    token, row = _issue_token(user, device)
    db.session.commit()
    return Session(user, token, row)


class TokenUse(NamedTuple):
    """What a bearer-token authentication reads of its token row."""

    id: int
    user_id: int
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


# Every socket connect and every bearer-token request runs it: one prepared
# statement, and the User put into the session from its columns. Loading the
# two ORM entities through a select was ~60% of the authentication's CPU.
_TOKENS, _USERS = cast(Table, ApiToken.__table__), cast(Table, User.__table__)
_TOKEN_COLUMNS = (_TOKENS.c.id, _TOKENS.c.user_id, _TOKENS.c.last_used_at, _TOKENS.c.revoked_at)
_USER_COLUMNS = tuple(_USERS.c)
_TOKEN_AND_USER = Prepared(
    select(*_TOKEN_COLUMNS, *_USER_COLUMNS)
    .join_from(_TOKENS, _USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.token_hash == bindparam("p_hash", type_=String))
)


def authenticate_token(token: object) -> tuple[User, TokenUse]:
    """The user and token row behind a bearer token, or Unauthorized."""
    if not isinstance(token, str) or not token or len(token) > 200 or not storable(token):
        # storable(): a lone surrogate cannot even be hashed (UTF-8), and a token never has one.
        raise Unauthorized("missing or invalid token")
    found = _TOKEN_AND_USER.first(db.session.connection(), {"p_hash": hash_token(token)})
    if found is None:
        raise Unauthorized("missing or invalid token")
    use = TokenUse(*found[:len(_TOKEN_COLUMNS)])
    if use.revoked:
        raise Unauthorized("missing or invalid token")
    user = _loaded_user(found[len(_TOKEN_COLUMNS):])
    touched = _admit(user, use.id, use.last_used_at)
    return user, use if touched is None else use._replace(last_used_at=touched)


def _loaded_user(values: Sequence[Any]) -> User:
    """The session's User of that row, as a query would have loaded it (persistent,
    nothing expired); the one already in the session when there is one."""
    columns = dict(zip((column.key for column in _USER_COLUMNS), values, strict=True))
    session = db.session()
    present = session.identity_map.get(identity_key(User, (columns["id"],)))
    if present is not None:
        return present
    user = User(**columns)
    make_transient_to_detached(user)
    session.add(user)
    return user


def session_proof(row: ApiToken) -> str:
    """What the browser session carries besides the token row's id: derived from
    the token's secret hash, which only the database knows. Row ids are small
    and sequential, so a cookie holding only (user id, row id) could be forged
    by anyone who learns the signing key; with the proof they also need a row
    of the database. The hash itself never leaves the server."""
    return hashlib.sha256(b"chat-session-cookie:" + row.token_hash.encode()).hexdigest()


def authenticate_token_id(token_id: object, user_id: object, proof: object) -> tuple[User, ApiToken]:
    """The browser session stores the id of its token row and its proof; revocation applies to it too."""
    if not isinstance(token_id, int) or isinstance(token_id, bool) or not isinstance(proof, str):
        raise Unauthorized("no session")
    row = db.session.get(ApiToken, token_id)
    if row is None or not hmac.compare_digest(session_proof(row), proof):
        raise Unauthorized("no session")
    user, row = _check_token_row(row)
    if str(user.id) != str(user_id):
        raise Unauthorized("no session")
    return user, row


def _check_token_row(row: ApiToken | None) -> tuple[User, ApiToken]:
    if row is None or row.revoked:
        raise Unauthorized("missing or invalid token")
    user = db.session.get(User, row.user_id)
    touched = _admit(user, row.id, row.last_used_at)
    if touched is not None:
        set_committed_value(row, "last_used_at", touched)
    assert user is not None  # _admit refused a missing one
    return user, row


def _admit(user: User | None, token_id: int, last_used_at: datetime | None) -> datetime | None:
    """The rules of both token paths for a token that is not revoked: its user
    exists and is active, and its last use is recorded when due (the new time,
    else None)."""
    if user is None or not user.active:
        raise Unauthorized("missing or invalid token")
    now = utcnow()
    if last_used_at is not None and (now - last_used_at).total_seconds() <= TOKEN_TOUCH_SECONDS:
        return None
    _touch(token_id, now)
    return now


# The touch is due at nearly every connect of a reconnect storm (a device's
# token was last used when it last connected). Through the ORM it cost
# ~375 us of a ~490 us authentication: a unit-of-work flush for one column,
# then the commit expired the token and the user, reloaded one query each.
_TOUCH = Prepared(
    update(ApiToken)
    .where(ApiToken.id == bindparam("p_id", type_=Integer))
    .values(last_used_at=bindparam("p_now", type_=DateTime))
)


def _touch(token_id: int, now: datetime) -> None:
    """Record ``last_used_at`` and commit, keeping the rows just loaded.

    Not expired at this commit: they were read in this transaction, and the
    only column it changed is set by the caller on what it returns, so they are
    what the not-due path returns without any commit.
    """
    _TOUCH.run(db.session.connection(), {"p_id": token_id, "p_now": now})
    session = db.session()
    expiring, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expiring


def revoke_token(user: User, token_id: object) -> None:
    """Revoke one token; every socket opened with it is disconnected (on any worker)."""
    tid = integer(token_id, "token_id", minimum=1)
    row = db.session.get(ApiToken, tid)
    if row is None or row.user_id != user.id:
        raise NotFound("no such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _forget_devices(PushSubscription.token_id == row.id)
        revoked = contract.SessionRevoked(token_id=row.id, reason="logout")
        events.on_commit(revoked, rooms=[token_room(row.id)], disconnect=True)
    db.session.commit()


def list_tokens(user: User, current_token_id: int | None) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [row.to_dict(current=row.id == current_token_id) for row in rows]


def deactivate_user(user_id: int) -> None:
    """Admin action: the user can no longer log in and every socket of theirs closes."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    user.active = False
    end_every_session(user_id, "deactivated")
    db.session.commit()


def end_every_session(user_id: int, reason: Literal["deactivated", "account_closed"]) -> None:
    """Revoke every token of the user, forget their push devices, and (after commit)
    tell and disconnect every socket of theirs, on every worker."""
    now = utcnow()
    for row in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))):
        row.revoked_at = now
    _forget_devices(PushSubscription.user_id == user_id)
    events.on_commit(contract.SessionRevoked(reason=reason), rooms=[user_room(user_id)], disconnect=True)


def _forget_devices(which: ColumnElement[bool]) -> None:
    """Push subscriptions go with the login that registered them (PROTOCOL.md v2):
    a revoked phone stops showing this user's messages on its lock screen."""
    db.session.execute(delete(PushSubscription).where(which))


def token_room(token_id: int) -> str:
    return f"token:{token_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def search_users(viewer: User, query: object, limit: object) -> list[dict[str, Any]]:
    q = string(query, "q", required=False) or ""
    count = clamp_limit(limit, 20, 100)
    stmt = select(User).where(User.active.is_(True))
    q = q.strip().lower()
    if q:
        pattern = escape_like(q) + "%"
        stmt = stmt.where(
            or_(User.username.like(pattern, escape="\\"), func.lower(User.display_name).like(pattern, escape="\\"))
        )
    users = list(db.session.scalars(stmt.order_by(User.username).limit(count)))
    return presence.users_to_dicts(users, viewer.id)


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


def require_password_change_input(current: object, new: object) -> tuple[str, str]:
    old = string(current, "current_password")
    assert old is not None
    return old, _password(new, "new_password")


def confirm_password(user: User, password: str, client_ip: str | None) -> None:
    """The signed-in user proves it is them (password change, closing the account).

    Wrong is 403 ``forbidden``, not 401: the caller's session is fine and stays signed
    in. Guesses count against the login limits, so a stolen session cannot brute-force it."""
    ratelimit.check_login(user.username, client_ip)
    if len(password) > MAX_PASSWORD_CHARS or not verify_password(user.password_hash, password):
        raise Forbidden("the password is wrong")


def change_password(
    user: User, current: object, new: object, keep_token_id: int | None, client_ip: str | None = None
) -> None:
    """Change the password and revoke every other token (a stolen device is logged out)."""
    old, fresh = require_password_change_input(current, new)
    confirm_password(user, old, client_ip)
    user.password_hash = hash_password(fresh)
    now = utcnow()
    for row in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))):
        if row.id != keep_token_id:
            row.revoked_at = now
            _forget_devices(PushSubscription.token_id == row.id)
            revoked = contract.SessionRevoked(token_id=row.id, reason="password_changed")
            events.on_commit(revoked, rooms=[token_room(row.id)], disconnect=True)
    db.session.commit()


def max_connections() -> int:
    return cast(int, current_app.config["MAX_CONNECTIONS_PER_USER"])
