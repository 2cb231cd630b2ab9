"""When every database connection of a worker is taken, a request waits up to
``pool_timeout`` and is then refused as ``unavailable`` with ``retry_after``
(counted in ``chat_shed_total{reason="db_pool"}``), on the socket and on REST:
never an ``internal`` error, and nothing is stored, so the retry with the same
``client_id`` stores the message once. The bench found this under overload on
PostgreSQL, where sends beyond the pool answered ``internal``."""

from __future__ import annotations

import pytest

from chatapp import create_app
from chatapp.extensions import db
from chatapp.services import conversations
from tests.support.metrics import shed_total


@pytest.fixture
def app(tmp_path):
    """A worker with a single database connection, which a test can hold."""
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'pool.db'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2},
        ARGON2_MEMORY_KIB=1024,
        ARGON2_TIME_COST=1,
    )
    with app.app_context():
        db.create_all()
        yield app
        app.extensions["chat.tasks"].shutdown()
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_an_exhausted_pool_is_unavailable_on_both_transports_and_stores_nothing(app, make_user, socket_client):
    alice, token = make_user()
    bob, _ = make_user()
    conversation, _ = conversations.open_direct(alice, bob.id)
    sock = socket_client(token)
    payload = {"conversation_id": conversation["id"], "body": "hello", "client_id": "c-1"}
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    headers = {"Authorization": f"Bearer {token}"}
    db.session.remove()
    before = shed_total("db_pool")

    with db.engine.connect():  # the worker's only connection
        refused = sock.emit("message:send", payload, namespace="/chat", callback=True)
        rest = app.test_client().post(path, json={"body": "hello", "client_id": "c-2"}, headers=headers)

    assert refused["ok"] is False
    assert refused["error"]["code"] == "unavailable" and refused["error"]["retry_after"] >= 1
    assert rest.status_code == 503, rest.get_data(as_text=True)
    assert rest.get_json()["error"]["code"] == "unavailable"
    assert rest.headers["Retry-After"] == "1"
    assert shed_total("db_pool") == before + 2
    accepted = sock.emit("message:send", payload, namespace="/chat", callback=True)
    assert accepted["ok"] is True and accepted["message"]["seq"] == 1, "the refused sends stored nothing"
    history = app.test_client().get(path, headers=headers).get_json()["messages"]
    assert [m["client_id"] for m in history] == ["c-1"]
