"""PostgreSQL: a plain send in one round trip, as a function of the session.

A send runs seven statements (the sender's standing, the block check, the seq,
the sender's read, the insert, the push jobs with the unread bump, the badge
totals). Prepared on the server (chatapp/prepared.py) each is cheap for
PostgreSQL, but each is still a round trip: a query sent, a green thread parked
until the answer, the loop's turn to resume it. At a few hundred sends a second
those turns were most of the latency and a large share of the worker's CPU.

This module runs the same statements inside PostgreSQL, in the same order, as a
PL/pgSQL function that answers with everything the send needs. The function is
generated from the very Core statements the Python path runs (their SQL, with
each parameter replaced by a PL/pgSQL variable), so the two cannot drift, and
it lives in ``pg_temp``: created on each new pooled connection, gone with it, so
no migration owns it and a schema change reaches it at the next connection.
Each statement in a PL/pgSQL function takes its own snapshot (read committed),
so the re-checks "under the conversation's lock" read what they read in Python.

A send takes this path when it has no attachments and its body names nobody
(``@``); the others, and any database without the function, run the Python path
(services/messaging.py), which stays the reference. The function decides and
writes; it never commits. A refusal after its writes is rolled back by the
caller exactly as in Python (``group_commit.discard``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from ..contract.limits import MANAGERS
from ..prepared import Prepared, compile_numbered

log = logging.getLogger(__name__)

_AVAILABLE = "chat.one_trip_send"
FUNCTION = "pg_temp.chat_send_message"
_CALL = "chat_send_call"
# The statuses the function answers with; "ok" carries a stored message.
OK = "ok"
ORIGINAL = "original"  # a resend: o_original_id is the message already stored
NOT_MEMBER = "not_member"
ADMINS_ONLY = "admins_only"
REFUSED = "refused"  # blocked either way, or the other account closed
REPLY_MISSING = "reply_missing"
REPLY_DELETED = "reply_deleted"
# Refusals decided under the lock, after the function's writes: the caller rolls back.
AFTER_WRITES = "_after_writes"

_ARGUMENTS = (("p_cid", "integer"), ("p_uid", "integer"), ("p_key", "varchar"), ("p_body", "text"),
              ("p_now", "timestamp without time zone"), ("p_due", "timestamp without time zone"),
              ("p_reply_to", "integer"))
_RESULTS = (("o_status", "text"), ("o_original_id", "integer"), ("o_message_id", "integer"), ("o_seq", "integer"),
            ("o_version", "integer"), ("o_last_read_seq", "integer"), ("o_recipients", "integer[]"),
            ("o_unread", "integer[]"), ("o_unread_mentions", "integer[]"), ("o_total_users", "integer[]"),
            ("o_totals", "bigint[]"), ("o_quote_id", "integer"), ("o_quote_seq", "integer"),
            ("o_quote_sender_id", "integer"), ("o_quote_body", "text"), ("o_quote_deleted", "boolean"))


@dataclass(frozen=True)
class Statements:
    """The Python path's statements, by their role in a send (services/messaging.py)."""

    sender_state: ClauseElement
    direct_refused: ClauseElement
    quoted: ClauseElement
    next_seq: ClauseElement
    sender_read: ClauseElement
    insert: ClauseElement
    message_jobs: ClauseElement
    bump_unread: ClauseElement
    totals: ClauseElement


@dataclass(frozen=True)
class Outcome:
    """The function's answer (one row): ``status`` and what that status carries."""

    status: str
    original_id: int | None
    message_id: int | None
    seq: int | None
    version: int | None
    last_read_seq: int | None
    recipients: list[int]
    unread: list[int]
    unread_mentions: list[int]
    total_users: list[int]
    totals: list[int]
    quote: Any  # a row with id, seq, sender_id, body, deleted (models.message.reply_preview), or None


@dataclass(frozen=True)
class _Quote:
    id: int
    seq: int
    sender_id: int
    body: str
    deleted: bool


def _sql(statement: ClauseElement, dialect: Dialect, variables: dict[str, str]) -> str:
    """The statement's SQL with each parameter replaced by a PL/pgSQL expression:
    ``variables`` names each required parameter; preset values become typed literals."""
    compiled, binds = compile_numbered(statement, dialect)
    expressions: list[str] = []
    for name in compiled.names:
        if name in variables:
            expressions.append(variables[name])
        elif name in compiled.preset:
            expressions.append(_literal(compiled.preset[name], binds[name].type, dialect))
        else:
            raise ValueError(f"no PL/pgSQL variable for the parameter {name!r}")
    return re.sub(r"\$(\d+)", lambda match: expressions[int(match.group(1)) - 1], compiled.sql)


def _literal(value: object, type_: Any, dialect: Dialect) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        rendered = str(value)
    elif isinstance(value, str):
        rendered = "'" + value.replace("'", "''") + "'"
    else:
        raise ValueError(f"no literal for a preset {type(value).__name__}")
    sql_type = re.sub(r"\(\d+\)", "", dialect.type_compiler_instance.process(type_))
    return f"CAST({rendered} AS {sql_type})"


def _managers() -> str:
    return ", ".join("'" + role + "'" for role in MANAGERS)


def function_sql(statements: Statements, dialect: Dialect, nobody_posts: str) -> str:
    """``CREATE FUNCTION pg_temp.chat_send_message(...)``: the Python path's
    ``_store`` (without attachments and mentions), statement for statement."""
    s = statements
    state = _sql(s.sender_state, dialect, {"p_cid": "p_cid", "p_uid": "p_uid", "p_key": "p_key"})
    refused = _sql(s.direct_refused, dialect, {"p_uid": "p_uid", "p_other": "v_other"})
    quoted = _sql(s.quoted, dialect, {"p_mid": "p_reply_to", "p_cid": "p_cid"})
    next_seq = _sql(s.next_seq, dialect, {"p_cid": "p_cid", "p_now": "p_now"})
    sender_read = _sql(s.sender_read, dialect, {"p_cid": "p_cid", "p_uid": "p_uid", "p_seq": "o_seq"})
    insert = _sql(s.insert, dialect, {
        "conversation_id": "p_cid", "seq": "o_seq", "sender_id": "p_uid", "body": "p_body", "client_id": "p_key",
        "created_at": "p_now", "deleted": "false", "version": "o_version", "mentions": "NULL",
        "reply_to_id": "p_reply_to",
    })
    jobs = _sql(s.message_jobs, dialect, {
        "p_cid": "p_cid", "p_seq": "o_seq", "p_mid": "o_message_id", "p_sender": "p_uid", "p_now": "p_now",
        "p_due": "p_due",
    })
    bump = _sql(s.bump_unread, dialect, {"p_cid": "p_cid", "p_uid": "p_uid"})
    totals = _sql(s.totals, dialect, {"p_cid": "p_cid"})
    arguments = ", ".join(f"{name} {type_}" for name, type_ in _ARGUMENTS)
    results = ", ".join(f"OUT {name} {type_}" for name, type_ in _RESULTS)
    not_manager = f"v_role IS NULL OR v_role NOT IN ({_managers()})"
    return f"""
CREATE OR REPLACE FUNCTION {FUNCTION}({arguments}, {results}) LANGUAGE plpgsql AS $chat$
DECLARE
    v_posting text; v_role text; v_direct_key text; v_low integer; v_high integer; v_other integer;
    v_blocked integer;
BEGIN
    {state} INTO v_posting, v_role, o_last_read_seq, v_direct_key, o_original_id;
    IF NOT FOUND THEN o_status := '{NOT_MEMBER}'; RETURN; END IF;
    IF o_original_id IS NOT NULL THEN o_status := '{ORIGINAL}'; RETURN; END IF;
    IF v_posting = 'admins' AND ({not_manager}) THEN o_status := '{ADMINS_ONLY}'; RETURN; END IF;
    IF v_direct_key IS NOT NULL THEN
        IF v_posting = '{nobody_posts}' THEN o_status := '{REFUSED}'; RETURN; END IF;
        v_low := split_part(v_direct_key, ':', 1)::integer;
        v_high := split_part(v_direct_key, ':', 2)::integer;
        v_other := CASE WHEN v_low = p_uid THEN v_high ELSE v_low END;
        {refused} INTO v_blocked;
        IF FOUND THEN o_status := '{REFUSED}'; RETURN; END IF;
    END IF;
    IF p_reply_to IS NOT NULL THEN
        {quoted} INTO o_quote_id, o_quote_seq, o_quote_sender_id, o_quote_body, o_quote_deleted;
        IF NOT FOUND THEN o_status := '{REPLY_MISSING}'; RETURN; END IF;
        IF o_quote_deleted THEN o_status := '{REPLY_DELETED}'; RETURN; END IF;
    END IF;
    {next_seq} INTO o_seq, o_version, v_posting;
    {sender_read} INTO v_role;
    IF NOT FOUND THEN o_status := '{NOT_MEMBER}{AFTER_WRITES}'; RETURN; END IF;
    IF v_posting = 'admins' AND ({not_manager}) THEN o_status := '{ADMINS_ONLY}{AFTER_WRITES}'; RETURN; END IF;
    IF v_posting = '{nobody_posts}' THEN o_status := '{REFUSED}{AFTER_WRITES}'; RETURN; END IF;
    {insert} INTO o_message_id;
    {jobs};
    WITH bumped AS ({bump})
    SELECT coalesce(array_agg(bumped.user_id), '{{}}'), coalesce(array_agg(bumped.unread_count), '{{}}'),
           coalesce(array_agg(bumped.unread_mentions), '{{}}')
    INTO o_recipients, o_unread, o_unread_mentions FROM bumped;
    IF cardinality(o_recipients) > 0 OR o_last_read_seq < o_seq - 1 THEN
        SELECT coalesce(array_agg(t.user_id), '{{}}'), coalesce(array_agg(t.total), '{{}}')
        INTO o_total_users, o_totals FROM ({totals}) AS t(user_id, total);
    ELSE
        o_total_users := '{{}}'; o_totals := '{{}}';
    END IF;
    o_status := '{OK}';
END
$chat$"""


def _call_sql() -> str:
    types = ", ".join(type_ for _, type_ in _ARGUMENTS)
    placeholders = ", ".join(f"${n}" for n in range(1, len(_ARGUMENTS) + 1))
    return f"PREPARE {_CALL} ({types}) AS SELECT * FROM {FUNCTION}({placeholders})"


def install(engine: Engine, statements: Statements, nobody_posts: str) -> None:
    """Create the function (and a prepared call of it) on every new pooled
    connection of ``engine``. A server that refuses (no TEMP privilege) leaves
    that connection on the Python path."""
    create = function_sql(statements, engine.dialect, nobody_posts)
    prepare = _call_sql()

    @event.listens_for(engine, "connect")
    def _create(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(create)
            cursor.execute(prepare)
            dbapi_connection.commit()
            record.info[_AVAILABLE] = True
        except engine.dialect.loaded_dbapi.Error as error:
            dbapi_connection.rollback()
            log.warning("one-round-trip sends unavailable on this connection: %s", error)
        finally:
            cursor.close()


def available(connection: Connection) -> bool:
    return bool(connection.connection.info.get(_AVAILABLE))


_EXECUTE = f"EXECUTE {_CALL} ({', '.join(['%s'] * len(_ARGUMENTS))})"


def send(connection: Connection, cid: int, uid: int, key: str, body: str, now: datetime, due: datetime,
         reply_to: int | None) -> Outcome:
    """One round trip: decide and write a plain send (uncommitted), or say why not."""
    cursor = Prepared.execute_raw(connection, _EXECUTE, [cid, uid, key, body, now, due, reply_to])
    (status, original_id, message_id, seq, version, last_read_seq, recipients, unread, unread_mentions,
     total_users, totals, quote_id, quote_seq, quote_sender_id, quote_body, quote_deleted) = cursor.fetchone()
    quote = None if quote_id is None else _Quote(quote_id, quote_seq, quote_sender_id, quote_body, quote_deleted)
    return Outcome(status, original_id, message_id, seq, version, last_read_seq, recipients or [], unread or [],
                   unread_mentions or [], total_users or [], [int(total) for total in totals or []], quote)
