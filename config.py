"""Configuration classes, chosen by name through ``CHAT_CONFIG`` (see ``config_by_name``).

Every setting can be overridden by an environment variable of the same name
prefixed with ``CHAT_`` (``CHAT_MAX_BODY_CHARS=2000``), except the few
well-known deployment variables (``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``)
that hosting platforms set without a prefix.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar, overload

_N = TypeVar("_N", int, float)

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


class ConfigError(ValueError):
    """A malformed environment value; the message names the variable."""


def _env_name(name: str) -> str:
    """The variable that sets ``name``: ``CHAT_<name>`` wins over ``<name>``."""
    return f"CHAT_{name}" if f"CHAT_{name}" in os.environ or name not in os.environ else name


@overload
def _env(name: str, default: str) -> str: ...
@overload
def _env(name: str, default: None = None) -> str | None: ...
def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"CHAT_{name}", os.environ.get(name, default))


def _env_number(name: str, default: _N, kind: type[_N], what: str) -> _N:
    value = _env(name)
    if value is None or value == "":
        return default
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{_env_name(name)}={value!r} is not {what}") from None


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{_env_name(name)}={value!r} is not a boolean (1/0, true/false)")


def env_async_mode() -> str:
    """CHAT_ASYNC_MODE or ASYNC_MODE: read here for both wsgi.py (which patches
    before importing the app) and Config, so the two never disagree."""
    return _env("ASYNC_MODE", "eventlet")


def env_database_url() -> str | None:
    return _env("DATABASE_URL") or None


def env_end_of_turn_writes() -> bool:
    """CHAT_WS_END_OF_TURN_WRITES: under eventlet, a socket with no writer task
    running gets its packets written at the end of the event loop's turn, from the
    loop itself (realtime/internals.py ``_WritingQueue.write_now``); 0 starts a
    writer task for them, as before. Read by wsgi.py, which installs it."""
    return _env_bool("WS_END_OF_TURN_WRITES", True)


def _env_list(name: str, default: list[str]) -> list[str]:
    value = _env(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _sqlite_default() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'chat.db'}"


class Config:
    """Defaults for every environment: the embedded single-process setup."""

    # Signs the session cookie. Unset: one is generated per installation into
    # instance/secret_key (mode 0600) and reused; a known placeholder is refused
    # in every config (chatapp/api/principal.py ensure_secret_key).
    SECRET_KEY = _env("SECRET_KEY") or None
    SQLALCHEMY_DATABASE_URI = env_database_url() or _sqlite_default()
    # Merged over the driver's defaults (chatapp.engine_options: PostgreSQL pings
    # and fails fast; a local SQLite file needs neither), key by key.
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, object] = {}
    # PostgreSQL: the send path's statements are prepared on the server once per
    # connection (chatapp/prepared.py). 0 behind PgBouncer in transaction mode.
    DB_SERVER_PREPARE = _env_bool("DB_SERVER_PREPARE", True)
    # PostgreSQL: a plain send runs as one function call, one round trip
    # (chatapp/services/one_trip_send.py). Needs DB_SERVER_PREPARE; 0 runs the
    # same statements one by one.
    DB_SEND_FUNCTION = _env_bool("DB_SEND_FUNCTION", True)
    # None: embedded mode (in-memory presence and rate limits, one process).
    REDIS_URL = _env("REDIS_URL") or None
    # Prefix for every Redis key and channel, so tests and tenants never collide.
    REDIS_PREFIX = _env("REDIS_PREFIX", "chat")
    ASYNC_MODE = env_async_mode()
    # This worker's name, unique in the cluster ([A-Za-z0-9_-]): it prefixes
    # Engine.IO session ids so the load balancer routes each long-poll to its
    # worker without cookies (chatapp/realtime/sessionids.py). Empty: no prefix.
    WORKER_ID = _env("WORKER_ID", "")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True

    # Contract limits (PROTOCOL.md "Limits"), configurable.
    MAX_BODY_CHARS = _env_int("MAX_BODY_CHARS", 4000)
    MAX_PAYLOAD_BYTES = _env_int("MAX_PAYLOAD_BYTES", 64 * 1024)
    MAX_CONTENT_LENGTH = MAX_PAYLOAD_BYTES
    MAX_GROUP_NAME_CHARS = _env_int("MAX_GROUP_NAME_CHARS", 100)
    MAX_GROUP_MEMBERS = _env_int("MAX_GROUP_MEMBERS", 1000)
    # Membership changes of larger groups announce the delta (member:joined/left)
    # without a conversation:updated per member, each carrying the whole list.
    MEMBER_LIST_FANOUT_LIMIT = _env_int("MEMBER_LIST_FANOUT_LIMIT", 100)
    MAX_EMOJI_CHARS = 16
    # Every reaction is broadcast and carried by every history page holding the message.
    MAX_REACTIONS_PER_USER = _env_int("MAX_REACTIONS_PER_USER", 20)
    MAX_REACTION_KINDS = _env_int("MAX_REACTION_KINDS", 50)

    # Argon2id at OWASP's recommended floor (m=19 MiB, t=2, p=1), or stronger.
    ARGON2_TIME_COST = _env_int("ARGON2_TIME_COST", 2)
    ARGON2_MEMORY_KIB = _env_int("ARGON2_MEMORY_KIB", 19 * 1024)
    ARGON2_PARALLELISM = _env_int("ARGON2_PARALLELISM", 1)

    # A person's real pace: bursts of 20 messages, then one a second on average.
    RATE_MESSAGES_BURST = _env_int("RATE_MESSAGES_BURST", 20)
    RATE_MESSAGES_PER_SECOND = _env_float("RATE_MESSAGES_PER_SECOND", 1.0)
    RATE_LOGIN_BURST = _env_int("RATE_LOGIN_BURST", 10)
    RATE_LOGIN_PER_SECOND = _env_float("RATE_LOGIN_PER_SECOND", 0.2)
    # Accounts per client address: a family or a classroom behind one NAT, not a script
    # (each costs an Argon2 hash): 20 at once, then one per minute.
    RATE_REGISTER_BURST = _env_int("RATE_REGISTER_BURST", 20)
    RATE_REGISTER_PER_SECOND = _env_float("RATE_REGISTER_PER_SECOND", 1 / 60)
    # Proxy hops in front of the server whose X-Forwarded-For/-Proto are believed.
    # 0 (default): the headers are ignored; a client could otherwise choose its own
    # address and escape every per-address limit. Behind one load balancer: 1.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    # Edits and joins/leaves reach every member: a person's pace, not a script's.
    RATE_EDIT_BURST = _env_int("RATE_EDIT_BURST", 20)
    RATE_EDIT_PER_SECOND = _env_float("RATE_EDIT_PER_SECOND", 0.5)
    RATE_MEMBERSHIP_BURST = _env_int("RATE_MEMBERSHIP_BURST", 20)
    RATE_MEMBERSHIP_PER_SECOND = _env_float("RATE_MEMBERSHIP_PER_SECOND", 0.2)

    # v2 push scheduling (services/push_outbox.py, push_delivery.py). A push waits
    # PUSH_DELAY_SECONDS after the commit for a listening device's `delivered`
    # (the shipped client acknowledges at once); each worker's loop looks for due
    # jobs every PUSH_POLL_SECONDS: pushed within ~delay + poll of the commit.
    PUSH_WORKER = _env_bool("PUSH_WORKER", True)
    # `chat push-worker` lowers its own CPU priority by this much (nice(2)): a push
    # may wait a few ms, a socket worker's acknowledgements may not (0: unchanged).
    PUSH_WORKER_NICE = _env_int("PUSH_WORKER_NICE", 10)
    PUSH_DELAY_SECONDS = _env_float("PUSH_DELAY_SECONDS", 2.0)
    PUSH_POLL_SECONDS = _env_float("PUSH_POLL_SECONDS", 0.5)
    PUSH_BATCH_SIZE = _env_int("PUSH_BATCH_SIZE", 50)
    # Pushes of one batch in flight at once (green threads under eventlet/gevent).
    PUSH_CONCURRENCY = _env_int("PUSH_CONCURRENCY", 16)
    # A claimed job not finished in this long is claimed again (its worker died).
    PUSH_LEASE_SECONDS = _env_float("PUSH_LEASE_SECONDS", 60.0)
    # Sends of one push to one device, the first included (429 and 5xx are retried).
    PUSH_MAX_ATTEMPTS = _env_int("PUSH_MAX_ATTEMPTS", 5)
    RATE_REACTION_BURST = _env_int("RATE_REACTION_BURST", 30)
    RATE_REACTION_PER_SECOND = _env_float("RATE_REACTION_PER_SECOND", 1.0)
    RATE_GROUP_CHANGE_BURST = _env_int("RATE_GROUP_CHANGE_BURST", 20)
    RATE_GROUP_CHANGE_PER_SECOND = _env_float("RATE_GROUP_CHANGE_PER_SECOND", 0.2)
    # v2: a display-name change tells every contact and raises the version of every
    # conversation of the user; reports reach a person (the operator), not a script.
    RATE_PROFILE_BURST = _env_int("RATE_PROFILE_BURST", 10)
    RATE_PROFILE_PER_SECOND = _env_float("RATE_PROFILE_PER_SECOND", 1 / 60)
    RATE_REPORT_BURST = _env_int("RATE_REPORT_BURST", 10)
    RATE_REPORT_PER_SECOND = _env_float("RATE_REPORT_PER_SECOND", 1 / 60)
    MAX_CONNECTIONS_PER_USER = _env_int("MAX_CONNECTIONS_PER_USER", 20)
    # Load shedding: a worker processes at most this many sends at once; the
    # excess gets `unavailable` with retry_after at once (counted in chat_shed_total).
    MAX_SENDS_IN_FLIGHT = _env_int("MAX_SENDS_IN_FLIGHT", 256)
    # Group commit on SQLite (services/group_commit.py): sends waiting at the same moment
    # share one transaction and one commit, at most this many (1 = every send commits alone).
    SEND_GROUP_MAX = _env_int("SEND_GROUP_MAX", 32)

    # Typing: clients drop "typing" after this; the server relays at most one
    # start per user and conversation per TYPING_THROTTLE_SECONDS.
    TYPING_EXPIRES_MS = _env_int("TYPING_EXPIRES_MS", 6000)
    TYPING_THROTTLE_SECONDS = _env_float("TYPING_THROTTLE_SECONDS", 2.0)
    # A reconnect within this grace must not flap presence (contract: at most 5 s).
    PRESENCE_OFFLINE_GRACE_SECONDS = _env_float("PRESENCE_OFFLINE_GRACE_SECONDS", 3.0)
    # A worker refreshes its sockets' presence this often; entries of a dead
    # (SIGKILLed) worker expire after PRESENCE_TTL_SECONDS, and survivors sweep
    # every heartbeat. Worst case offline after a crash: TTL + HEARTBEAT = 25 s,
    # inside the 30 s promise; TTL = 4 heartbeats survives a few slow beats.
    PRESENCE_HEARTBEAT_SECONDS = _env_float("PRESENCE_HEARTBEAT_SECONDS", 5.0)
    PRESENCE_TTL_SECONDS = _env_float("PRESENCE_TTL_SECONDS", 20.0)

    SYNC_DEFAULT_LIMIT = 500
    SYNC_MAX_LIMIT = 1000
    HISTORY_DEFAULT_LIMIT = 50
    HISTORY_MAX_LIMIT = 100

    # Push transport (chatapp/push). The VAPID key every browser subscription is
    # bound to: PEM or base64url raw 32-byte P-256 key. Unset: generated once into
    # instance/vapid_private_key.pem (mode 0600) and reused; workers on several
    # hosts must share one key (set it), or each host's pushes are refused.
    VAPID_PRIVATE_KEY = _env("VAPID_PRIVATE_KEY") or None
    # The operator's contact for push services (RFC 8292): mailto: or https:.
    # Apple's service refuses placeholders such as this default: set a real one.
    VAPID_SUBJECT = _env("VAPID_SUBJECT", "mailto:admin@localhost")
    # FCM HTTP v1: path to the service account JSON; unset, FCM devices are not pushed.
    FCM_CREDENTIALS = _env("FCM_CREDENTIALS") or None
    FCM_SEND_URL = _env("FCM_SEND_URL", "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send")
    # Replaces the service account's token_uri (a local receiver in tests).
    FCM_TOKEN_URL = _env("FCM_TOKEN_URL") or None
    # Endpoints over http and on loopback/private addresses: development and tests
    # only (request forgery otherwise); production refuses to start with it.
    PUSH_ALLOW_INSECURE = _env_bool("PUSH_ALLOW_INSECURE", False)
    # Seconds for a whole exchange with a push service (connect, TLS, answer): a
    # slow or hostile one holds a sending thread no longer than this.
    PUSH_TIMEOUT = _env_float("PUSH_TIMEOUT", 5.0)

    # v2 attachments (chatapp/attachments, docs/attachments.md). The largest file
    # POST /uploads takes; the request may be this plus multipart framing.
    MAX_UPLOAD_BYTES = _env_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024)
    # Where the bytes live: "file" (the instance folder, or UPLOAD_DIR: one machine,
    # or a folder every worker mounts) or "database" (chunks in the SQL database,
    # which every worker of a cluster reaches; `make cluster` uses it).
    UPLOAD_STORAGE = _env("UPLOAD_STORAGE", "file")
    UPLOAD_DIR = _env("UPLOAD_DIR", "")  # empty: <instance folder>/uploads
    # An upload no message carries is removed after this; every worker's purge
    # loop looks for due uploads (and deleted messages' files) this often.
    UPLOAD_UNATTACHED_TTL_SECONDS = _env_float("UPLOAD_UNATTACHED_TTL_SECONDS", 24 * 3600.0)
    UPLOAD_PURGE_WORKER = _env_bool("UPLOAD_PURGE_WORKER", True)
    UPLOAD_PURGE_SECONDS = _env_float("UPLOAD_PURGE_SECONDS", 60.0)
    # Images declaring more pixels are refused before decoding (a 50 MP photo
    # decodes to 150 MB); an animation's frames together may have 4 times this.
    UPLOAD_MAX_IMAGE_PIXELS = _env_int("UPLOAD_MAX_IMAGE_PIXELS", 50_000_000)
    # Uploads of one user not yet sent in a message (an offline outbox holds some).
    UPLOAD_PENDING_MAX = _env_int("UPLOAD_PENDING_MAX", 100)
    # A person sharing an album: 30 files at once, then one every 2 s; and 500 MiB
    # at once, then 0.25 MiB/s (a 25 MiB video every 100 s, ~21 GiB a day at most).
    RATE_UPLOAD_BURST = _env_int("RATE_UPLOAD_BURST", 30)
    RATE_UPLOAD_PER_SECOND = _env_float("RATE_UPLOAD_PER_SECOND", 0.5)
    RATE_UPLOAD_MIB_BURST = _env_int("RATE_UPLOAD_MIB_BURST", 500)
    RATE_UPLOAD_MIB_PER_SECOND = _env_float("RATE_UPLOAD_MIB_PER_SECOND", 0.25)

    # Browsers may use the session cookie (sockets, REST writes) only from the
    # server's own origin and these. "*" lets any site open bearer-token sockets
    # (engineio CORS) but never lends the cookie to another site (docs/security.md).
    CORS_ALLOWED_ORIGINS = _env_list("CORS_ALLOWED_ORIGINS", [])
    CLIENT_DIST_DIR = _env("CLIENT_DIST_DIR", str(BASE_DIR / "mobile_client" / "dist"))
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")
    TESTING = False
    PRODUCTION = False


class DevelopmentConfig(Config):
    """`make run`: the embedded default (SQLite in instance/, no Redis)."""


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = secrets.token_hex(32)  # in-process tests only; never a fixed, public value
    SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL") or "sqlite://"
    ASYNC_MODE = "threading"
    REDIS_URL = None
    PRESENCE_OFFLINE_GRACE_SECONDS = 0.2
    # In-process tests drive push delivery themselves (push_delivery.deliver_due).
    PUSH_WORKER = False
    PUSH_DELAY_SECONDS = 0.0
    # Uploads in the scratch database (nothing written into instance/); the purge
    # is driven by the tests (services.uploads.purge). tests/attachments run both backends.
    UPLOAD_STORAGE = "database"
    UPLOAD_PURGE_WORKER = False


class ProductionConfig(Config):
    PRODUCTION = True
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"


config_by_name: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def check_settings(settings: Mapping[str, object]) -> None:
    """Settings no production deployment may run with, whether they came from the
    environment or from create_app's overrides (create_app calls this)."""
    if settings.get("PRODUCTION") and settings.get("PUSH_ALLOW_INSECURE"):
        raise ConfigError(
            "CHAT_PUSH_ALLOW_INSECURE=1 is refused in production: it lets push endpoints reach "
            "plain http and loopback/private addresses (development and tests only)"
        )
    timeout = settings.get("PUSH_TIMEOUT")
    if isinstance(timeout, int | float) and timeout <= 0:
        raise ConfigError(f"CHAT_PUSH_TIMEOUT={timeout!r} must be a positive number of seconds")
