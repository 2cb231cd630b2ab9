"""Prepared statements (chatapp/prepared.py): the send path's statements run on
the DBAPI cursor, and must behave exactly as ``Connection.execute`` would: the
same transaction, the same stored values, the same exceptions."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import pytest
from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from chatapp.extensions import db
from chatapp.models import User
from chatapp.prepared import Prepared
from tests.conftest import TEST_DB

USERS = cast(Table, User.__table__)
_ADD_USER = Prepared(
    insert(USERS)
    .values(
        username=bindparam("p_name", type_=String), display_name=bindparam("p_name", type_=String),
        password_hash="!", created_at=bindparam("p_at", type_=DateTime), active=bindparam("p_active", type_=Boolean),
    )
    .returning(USERS.c.id)
)
_RENAME = Prepared(
    update(USERS)
    .where(USERS.c.id == bindparam("p_id", type_=Integer))
    .values(display_name=bindparam("p_display", type_=String))
)
_CREATED = select(USERS.c.created_at, USERS.c.active).where(USERS.c.id == bindparam("p_id", type_=Integer))


def test_a_prepared_insert_stores_what_core_would_store(app):
    """Datetimes and booleans go through the column types' bind processors: on
    SQLite a whole-second datetime is stored with its microseconds, as Core stores
    it, so that text comparisons order it correctly."""
    at = datetime(2026, 12, 1, 18, 0, 0)
    user_id = _ADD_USER.scalar(db.session.connection(), {"p_name": "prepared", "p_at": at, "p_active": True})
    db.session.commit()
    created_at, active = db.session.execute(_CREATED, {"p_id": user_id}).one()
    assert created_at == at and active is True
    core_id = db.session.execute(
        insert(USERS).values(username="core", display_name="core", password_hash="!", created_at=at, active=True)
    ).inserted_primary_key[0]
    stored = db.session.execute(
        select(literal(1)).where(USERS.c.id == user_id, USERS.c.created_at == select(USERS.c.created_at)
                                 .where(USERS.c.id == core_id).scalar_subquery())
    ).scalar()
    assert stored == 1


def test_a_prepared_statement_runs_in_the_session_transaction(app):
    user_id = _ADD_USER.scalar(db.session.connection(), {"p_name": "undone", "p_at": datetime(2026, 1, 1),
                                                         "p_active": True})
    assert db.session.get(User, user_id) is not None  # the same transaction sees it
    db.session.rollback()
    assert db.session.get(User, user_id) is None


def test_preset_values_and_repeated_parameters(app):
    """A parameter used twice (p_name) and a literal value (password "!") need no argument."""
    conn = db.session.connection()
    user_id = _ADD_USER.scalar(conn, {"p_name": "twice", "p_at": datetime(2026, 1, 1), "p_active": False})
    assert _RENAME.run(conn, {"p_id": user_id, "p_display": "Renamed"}).rowcount == 1
    user = db.session.get(User, user_id)
    assert (user.username, user.display_name, user.password_hash, user.active) == ("twice", "Renamed", "!", False)


def test_a_driver_error_is_translated_as_connection_execute_translates_it(app):
    """A unique violation is SQLAlchemy's IntegrityError (the send path catches it
    for a concurrent resend), not the driver's own exception class."""
    conn = db.session.connection()
    _ADD_USER.run(conn, {"p_name": "taken", "p_at": datetime(2026, 1, 1), "p_active": True})
    with pytest.raises(IntegrityError):
        _ADD_USER.run(conn, {"p_name": "taken", "p_at": datetime(2026, 1, 1), "p_active": True})
    db.session.rollback()


def test_statements_it_cannot_run_faithfully_are_refused_when_compiled(app):
    conn = db.session.connection()
    expanding = Prepared(select(USERS.c.id).where(USERS.c.id.in_(bindparam("p_ids", expanding=True))))
    with pytest.raises(ValueError, match="expanding"):
        expanding.run(conn, {"p_ids": [1]})
    untyped = Prepared(select(bindparam("p_at")))  # a comparison with a column would take its type
    with pytest.raises(ValueError, match="typed parameters: p_at"):
        untyped.run(conn, {"p_at": datetime(2026, 1, 1)})


postgres_only = pytest.mark.skipif(TEST_DB != "postgres", reason="server-side PREPARE: PostgreSQL")


def _server_prepared_names() -> set[str]:
    return set(db.session.execute(text("SELECT name FROM pg_prepared_statements")).scalars())


@postgres_only
def test_on_postgresql_a_statement_is_prepared_once_per_connection_and_outlives_a_rollback(app):
    conn = db.session.connection()
    user_id = _ADD_USER.scalar(conn, {"p_name": "server", "p_at": datetime(2026, 1, 1), "p_active": True})
    name = _ADD_USER._server.name
    assert name in _server_prepared_names()
    db.session.rollback()  # PREPARE is not transactional: the statement stays, the row goes
    assert db.session.get(User, user_id) is None
    assert name in _server_prepared_names()
    again = _ADD_USER.scalar(db.session.connection(), {"p_name": "server", "p_at": datetime(2026, 1, 1),
                                                       "p_active": True})
    db.session.commit()
    assert db.session.get(User, again).username == "server"


@postgres_only
def test_a_new_connection_prepares_again_after_the_old_one_was_lost(app):
    """The prepared names live in the pooled connection's info: a connection
    replaced after a disconnect starts with none and prepares on first use."""
    conn = db.session.connection()
    _RENAME.run(conn, {"p_id": 0, "p_display": "nobody"})
    backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    db.session.commit()
    other = create_engine(db.engine.url, poolclass=NullPool)  # not a connection of the pool
    with other.connect() as killer:
        killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    other.dispose()
    db.session.remove()
    # Checked in moments ago, it is not pinged (chatapp/idle_ping.py): its next
    # statement fails, and SQLAlchemy replaces the pool's connections.
    with pytest.raises(OperationalError):
        _RENAME.run(db.session.connection(), {"p_id": 0, "p_display": "nobody"})
    db.session.rollback()
    assert _RENAME.run(db.session.connection(), {"p_id": 0, "p_display": "nobody"}).rowcount == 0
    assert db.session.execute(text("SELECT pg_backend_pid()")).scalar() != backend
    assert _RENAME._server.name in _server_prepared_names()


@postgres_only
def test_server_prepare_can_be_switched_off_for_a_transaction_pooler(database_url, tmp_path):
    from chatapp import create_app

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, DB_SERVER_PREPARE=False)
    with app.app_context():
        db.create_all()
        user_id = _ADD_USER.scalar(db.session.connection(), {"p_name": "pooled", "p_at": datetime(2026, 1, 1),
                                                             "p_active": True})
        assert not {n for n in _server_prepared_names() if n.startswith("chat_prepared_")}
        assert db.session.get(User, user_id).username == "pooled"
        db.session.rollback()
        app.extensions["chat.tasks"].shutdown()
        db.session.remove()
        db.engine.dispose()


def test_two_statements_run_one_after_the_other_and_the_second_answers(app):
    """``run_after``: one round trip on PostgreSQL (both prepared there), two calls
    elsewhere; either way the first's change is visible to the second."""
    conn = db.session.connection()
    user_id = _ADD_USER.scalar(conn, {"p_name": "chained", "p_at": datetime(2026, 1, 1), "p_active": True})
    names = Prepared(select(USERS.c.display_name).where(USERS.c.id == bindparam("p_id", type_=Integer)))
    cursor = names.run_after(conn, _RENAME, {"p_id": user_id, "p_display": "After"}, {"p_id": user_id})
    assert cursor.fetchall() == [("After",)]
    assert db.session.get(User, user_id).display_name == "After"
