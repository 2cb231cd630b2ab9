"""Prepared statements (chatapp/prepared.py): the send path's statements run on
the DBAPI cursor, and must behave exactly as ``Connection.execute`` would: the
same transaction, the same stored values, the same exceptions."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import pytest
from sqlalchemy import Boolean, DateTime, Integer, String, Table, bindparam, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from chatapp.extensions import db
from chatapp.models import User
from chatapp.prepared import Prepared

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
