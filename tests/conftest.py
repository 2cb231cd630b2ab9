"""Fixtures: an app on a scratch database, REST and socket test clients, user factories.

The database is SQLite in memory by default; ``CHAT_TEST_DB=postgres`` runs
the same tests on a scratch PostgreSQL database created for this run and
dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from flask_socketio.test_client import SocketIOTestClient
from sqlalchemy import text

from chatapp import create_app
from chatapp.extensions import db, socketio
from chatapp.models import User
from chatapp.services import accounts
from tests.support.services import scratch_postgres_database

# Test figures travel from xdist workers to the controller (tests/chaos reports them).
pytest_plugins = ("tests.support.figures",)

TEST_DB = os.environ.get("CHAT_TEST_DB", "sqlite")
_names = itertools.count(1)


def pytest_collection_modifyitems(config, items) -> None:
    """``CHAT_TEST_DB=postgres`` (make test-postgres) re-runs the tests whose
    database comes from these fixtures. The others pick their own databases
    (real server processes, clusters, scratch PostgreSQL of their own), do not
    depend on CHAT_TEST_DB, and already ran in the SQLite pass."""
    if TEST_DB != "postgres":
        return
    keep = [item for item in items if "database_url" in getattr(item, "fixturenames", ())]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """Session-scoped, so one per pytest-xdist worker: each worker process gets
    a scratch PostgreSQL database of its own (named after it) and drops it."""
    if TEST_DB == "postgres":
        with scratch_postgres_database() as url:
            yield url
    else:
        yield "sqlite://"


@pytest.fixture
def app(database_url: str, tmp_path):
    # SQLite: a file per test, not ":memory:": the server's background threads
    # (presence settling, ready) get connections of their own instead of
    # sharing the single in-memory one with the test's thread.
    url = f"sqlite:///{tmp_path / 'test.db'}" if database_url.startswith("sqlite") else database_url
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.create_all()
        yield app
        for test_client in list(SocketIOTestClient.clients.values()):
            if test_client.is_connected("/chat"):
                test_client.disconnect("/chat")
        app.extensions["chat.tasks"].shutdown()
        reset_database()


def reset_database() -> None:
    """Leave the test database empty for the next test: the scratch PostgreSQL
    database is shared by the whole run (emptied, its schema kept); a SQLite
    database is per test (dropped)."""
    db.session.remove()
    if TEST_DB == "postgres":
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
    else:
        db.drop_all()
    db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class UserFactory:
    """Creates users through the real registration service."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, username: str | None = None, password: str = "correct horse", **kw) -> tuple[User, str]:
        name = username or f"user{next(_names)}"
        session = accounts.register(name, password, kw.get("display_name"))
        return session.user, session.token


@pytest.fixture
def make_user(app) -> UserFactory:
    return UserFactory(app)


@pytest.fixture
def auth_headers():
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def socket_client(app, monkeypatch):
    """Factory of Flask-SocketIO test clients on /chat (fast, in-process)."""
    created = []
    # The test client fakes the Engine.IO layer: its sids have no Engine.IO
    # socket, so python-socketio's save_session/get_session (which the connect
    # handler uses) would raise KeyError. Give those fake sids a session store.
    eio = socketio.server.eio
    real_get_session = eio.get_session
    fake_sessions: dict[str, dict] = {}

    def get_session(eio_sid: str) -> dict:
        try:
            return real_get_session(eio_sid)
        except KeyError:
            return fake_sessions.setdefault(eio_sid, {})

    monkeypatch.setattr(eio, "get_session", get_session)

    def connect(token: str | None, **kw):
        auth = {"token": token} if token is not None else None
        test_client = socketio.test_client(app, namespace="/chat", auth=auth, **kw)
        created.append(test_client)
        return test_client

    yield connect
    for test_client in created:
        if test_client.is_connected("/chat"):
            test_client.disconnect("/chat")
