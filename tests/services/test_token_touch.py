"""A token's ``last_used_at``: recorded at authentication, at most once a minute."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, update

from chatapp.extensions import db
from chatapp.models import ApiToken
from chatapp.services import accounts

PASSWORD = "correct horse"


def stored_last_used(token_id: int):
    """The value committed to the database, not the session's copy."""
    db.session.remove()
    row = db.session.get(ApiToken, token_id)
    assert row is not None
    return row.last_used_at


def test_authenticating_records_last_used_and_commits_it(app):
    session = accounts.register("touchy", PASSWORD)
    token_id = session.token_row.id
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=None))
    db.session.commit()
    _user, row = accounts.authenticate_token(session.token)
    assert row.last_used_at is not None
    assert stored_last_used(token_id) == row.last_used_at


def test_a_recent_use_is_not_written_again_and_an_old_one_is(app):
    session = accounts.register("touchy2", PASSWORD)
    token_id = session.token_row.id
    _user, row = accounts.authenticate_token(session.token)
    first = row.last_used_at
    assert accounts.authenticate_token(session.token)[1].last_used_at == first
    assert stored_last_used(token_id) == first
    stale = first - timedelta(seconds=accounts.TOKEN_TOUCH_SECONDS + 1)
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=stale))
    db.session.commit()
    _user, row = accounts.authenticate_token(session.token)
    assert row.last_used_at > first
    assert stored_last_used(token_id) == row.last_used_at


def test_the_user_and_token_stay_loaded_after_the_touch(app):
    """Every connect of a reconnect storm touches its token: reading the returned
    rows afterwards must not reload them (one query each, per connect)."""
    session = accounts.register("touchy3", PASSWORD)
    user_id, token_id = session.user.id, session.token_row.id
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=None))
    db.session.commit()
    db.session.remove()
    user, row = accounts.authenticate_token(session.token)
    statements: list[str] = []
    engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731  (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert (user.id, user.username, row.id, row.revoked) == (user_id, "touchy3", token_id, False)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []
