"""The chat server: create_app() binds extensions, blueprints and the /chat namespace."""

from __future__ import annotations

import gc
import logging
import os
import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, INSTANCE_DIR, check_settings, config_by_name

from . import idle_ping, jsonmodule
from .extensions import db, migrate, socketio
from .realtime import guard, sessionids
from .realtime.managers import ChatManager, ChatRedisManager
from .realtime.namespace import ChatNamespace
from .realtime.packets import JsonPacket
from .realtime.publisher import make_publisher
from .realtime.tasks import Tasks
from .services import blocks, group_commit, messaging, one_trip_send
from .services.degraded import DegradableState
from .services.state import create_state


def create_app(config_name: str | None = None, **overrides: object) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), static_folder=None)
    app.config.from_object(config_by_name[config_name or os.environ.get("CHAT_CONFIG", "development")])
    app.config.update(overrides)
    check_settings(app.config)  # e.g. production refuses CHAT_PUSH_ALLOW_INSECURE=1
    app.json = jsonmodule.OrjsonProvider(app)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    # The driver's defaults, then the configuration's own options (config class or
    # create_app override) on top, key by key: either may tune the pool.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
        **(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}),
    }
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    from .api.principal import ensure_secret_key

    ensure_secret_key(app)  # never a public default (generated into instance/ when unset)
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if app.config["TRUSTED_PROXIES"] > 0:
        # Only configured proxy hops may set X-Forwarded-For/Proto; otherwise a
        # client could pick its address and escape the per-address limits.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            idle_ping.install(db.engine)
            if app.config["DB_SERVER_PREPARE"] and app.config["DB_SEND_FUNCTION"]:
                one_trip_send.install(db.engine, messaging.ONE_TRIP_STATEMENTS, blocks.NOBODY_POSTS)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    from .api.principal import init_login

    init_login(app)
    from .api.csrf import init_csrf

    init_csrf(app)  # cookie-authenticated REST writes need X-Requested-With (docs/security.md)
    from .api.requestlog import init_request_log

    init_request_log(app)
    state = create_state(app.config["REDIS_URL"], app.config["REDIS_PREFIX"])
    app.extensions["chat.state"] = DegradableState(state) if app.config["REDIS_URL"] else state
    _init_socketio(app)
    _register_blueprints(app)
    from .cli import register_cli

    register_cli(app)
    return app


def normalize_database_url(url: str) -> str:
    """Pin PostgreSQL to psycopg2: psycopg 3 cannot cooperate with eventlet,
    psycopg2 can (psycogreen). SQLAlchemy 2.1 would pick psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict[str, object]:
    """Fail fast when the database is unreachable: a send answers ``unavailable``
    within about 2 s instead of hanging on a TCP connect.

    The pool keeps every connection it opens (30, no overflow): overflow
    connections are closed at check-in, so a load above the pool size opened and
    closed a PostgreSQL connection (a backend process, and the send path's
    prepared statements) per send beyond it; at 500 msg/s that churn was a tenth
    of the worker's CPU and most of its p99. The bound stays 30 per worker."""
    if not url.startswith("postgresql"):
        # A local SQLite file has no server to drop the connection: no ping per checkout.
        return {}
    # No pool_pre_ping (a round trip per checkout): chatapp/idle_ping.py pings
    # only a connection that sat idle.
    return {
        "pool_size": 30,
        "max_overflow": 0,
        "pool_timeout": 5,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 1, "keepalives": 1, "keepalives_idle": 30},
    }


def _init_socketio(app: Flask) -> None:
    cfg = app.config
    if cfg["REDIS_URL"]:
        manager = ChatRedisManager(cfg["REDIS_URL"], channel=f"{cfg['REDIS_PREFIX']}-socketio")
    else:
        manager = ChatManager()
    origins = cfg["CORS_ALLOWED_ORIGINS"]
    socketio.init_app(
        app,
        async_mode=cfg["ASYNC_MODE"],
        client_manager=manager,
        json=jsonmodule,
        serializer=JsonPacket,  # JSON only: no binary scan of every payload (realtime/packets.py)
        # Engine.IO refuses larger packets (413 on polling, close on websocket).
        max_http_buffer_size=cfg["MAX_PAYLOAD_BYTES"],
        cors_allowed_origins=("*" if "*" in origins else origins) or None,
        cors_credentials=True,
        manage_session=False,
        ping_interval=25,
        ping_timeout=20,
        logger=False,
        engineio_logger=False,
    )
    # Refuse binary packets and malformed input without buffering or tracebacks (realtime/guard.py).
    guard.install(socketio.server)
    # Session ids name this worker: cookie-less stickiness at the load balancer.
    sessionids.install(socketio.server.eio, cfg["WORKER_ID"], clustered=bool(cfg["REDIS_URL"]))
    app.extensions["chat.publisher"] = make_publisher(socketio)
    # The extension object is module-global; a second app (tests) replaces the namespace.
    socketio.namespace_handlers = []
    tasks = Tasks(app, socketio)
    app.extensions["chat.tasks"] = tasks
    if cfg["SEND_GROUP_MAX"] > 1 and cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite only: it has one writer and its calls hold the loop, so sends never
        # overlap and a group loses nothing. PostgreSQL overlaps sends on separate
        # connections and flushes concurrent commits together itself; one leader's
        # connection would serialise them (measured: 250 msg/s fell to 64% delivered).
        app.extensions[group_commit.EXTENSION_KEY] = group_commit.SendGroup(cfg["SEND_GROUP_MAX"])
    socketio.on_namespace(ChatNamespace(tasks))
    if cfg["PUSH_WORKER"]:
        # Started by the first request (a health check counts), not here: the
        # CLI (flask db upgrade) builds the app too and must not start a loop.
        app.before_request(tasks.ensure_push_worker)
    if cfg["UPLOAD_PURGE_WORKER"]:
        app.before_request(tasks.ensure_upload_purge)  # started like the push loop, by the first request
    if cfg["ASYNC_MODE"] != "threading":
        _tune_gc()


def _tune_gc() -> None:
    """Thousands of long-lived socket objects make full collections stall the
    loop for 100-300 ms; collect gen-2 far less often (issue 7 measurements)."""
    gc.set_threshold(700, 10, 10000)


def _register_blueprints(app: Flask) -> None:
    from .api.conversations import bp as conversations_bp
    from .api.docs import bp as docs_bp
    from .api.http import register_error_handlers
    from .api.messages import bp as messages_bp
    from .api.push import bp as push_bp
    from .api.search import bp as search_bp
    from .api.uploads import bp as uploads_bp
    from .api.users import bp as users_bp
    from .auth.routes import bp as auth_bp
    from .web.routes import bp as web_bp

    for blueprint in (auth_bp, users_bp, conversations_bp, messages_bp, push_bp, uploads_bp, search_bp, docs_bp,
                      web_bp):
        app.register_blueprint(blueprint)
    register_error_handlers(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    """WAL lets readers proceed during a write; busy_timeout queues writers
    instead of failing with "database is locked"."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
