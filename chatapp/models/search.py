"""The message search index, one per database engine, kept outside the ORM models.

Both engines index every message row (a deleted one has an empty body, so it
holds no words) and keep the index exact inside the transaction that writes the
message: send, edit, delete, or anything else that touches ``messages.body``.

- SQLite: ``messages_fts``, an FTS5 table with external content (the text is
  read from ``messages``, not stored twice), rowid = message id, tokenizer
  ``unicode61 remove_diacritics 2`` (case and accents folded), prefix indexes
  for 1-3 characters (a short prefix is one doclist instead of a merge of every
  word it starts), and ``conversation_id`` indexed as a second column, so
  membership is part of the match itself: measured on 1M messages, filtering
  conversations after the match took 54-104 ms for a common word absent from
  them, against 0-15 ms in the match. Three triggers keep it exact.
- PostgreSQL: the stored generated column ``messages.search_vector``
  (``to_tsvector('simple', chat_search_text(body))``) with a GIN index, where
  ``chat_search_text`` lower-cases, removes accents (``unaccent``, through the
  IMMUTABLE wrapper ``immutable_unaccent`` that an index expression requires)
  and turns ASCII punctuation into spaces, so that the parser sees plain words
  ("example.com", "x@y.org", "a-b" are two or three words, as on SQLite).
  Queries run their words through the same function.

None of this is a mapped column or table: FTS5 shadow tables and a PostgreSQL
``tsvector`` have no SQLAlchemy type on the other engine. The schema comes from
the migration ``e3b7c1d9a5f2`` or, for ``db.create_all()`` (tests), from the
``after_create`` hook below; ``include_name`` keeps Alembic's comparison (and
``flask db migrate``) from proposing to drop what it does not model.

Caution for later migrations: on SQLite, ``batch_alter_table("messages")``
rebuilds the table, and dropping the old table drops its triggers. Such a
migration must call ``create_sqlite_triggers`` again (the content table keeps its
name, so the FTS table itself survives).
"""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import Connection, Table, event, text

from .message import Message

FTS_TABLE = "messages_fts"
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "ix_messages_search_vector"
# ASCII punctuation becomes a space before PostgreSQL's parser runs (see above).
PUNCTUATION = string.punctuation

SQLITE_FTS = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
    body, conversation_id,
    content='messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3', columnsize=0
)"""
SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO {FTS_TABLE}(rowid, body, conversation_id) VALUES (new.id, new.body, new.conversation_id);
END""",
    # An external-content FTS5 'delete' must be given the values that were indexed: the old row's.
    f"""CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
END""",
    # Only when the indexed text changes: a reaction or a version bump touches other columns.
    f"""CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF body, conversation_id ON messages
WHEN old.body IS NOT new.body OR old.conversation_id IS NOT new.conversation_id BEGIN
    INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
    INSERT INTO {FTS_TABLE}(rowid, body, conversation_id) VALUES (new.id, new.body, new.conversation_id);
END""",
)
SQLITE_TRIGGER_NAMES = ("messages_fts_insert", "messages_fts_delete", "messages_fts_update")


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def postgres_functions(unaccent_schema: str) -> tuple[str, ...]:
    """The two IMMUTABLE functions. ``unaccent`` itself is only STABLE (its dictionary
    could change), which an index or generated column refuses; the wrapper names the
    dictionary explicitly, so that neither depends on the session's search_path."""
    schema = '"' + unaccent_schema.replace('"', '""') + '"'
    return (
        f"""CREATE OR REPLACE FUNCTION immutable_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, $1) $$""",
        f"""CREATE OR REPLACE FUNCTION chat_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT translate(immutable_unaccent(lower($1)), {_sql_literal(PUNCTUATION)},
                           {_sql_literal(" " * len(PUNCTUATION))}) $$""",
    )


POSTGRES_COLUMN = (
    f"ALTER TABLE messages ADD COLUMN {SEARCH_COLUMN} tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, chat_search_text(body))) STORED"
)
POSTGRES_INDEX = f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_COLUMN})"
POSTGRES_EXTENSION = "CREATE EXTENSION IF NOT EXISTS unaccent"
UNACCENT_SCHEMA = (
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
)


def create_sqlite(connection: Connection) -> None:
    connection.execute(text(SQLITE_FTS))
    create_sqlite_triggers(connection)
    # Existing rows (a migration of a populated database): index them, then merge the
    # segments into one (writes after a bare rebuild cost ~4x more, measured).
    connection.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"))
    connection.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))


def create_sqlite_triggers(connection: Connection) -> None:
    for trigger in SQLITE_TRIGGERS:
        connection.execute(text(trigger))


def create_postgres(connection: Connection) -> None:
    """Extension, functions, generated column (computed for existing rows) and GIN index."""
    connection.execute(text(POSTGRES_EXTENSION))
    schema = connection.execute(text(UNACCENT_SCHEMA)).scalar_one()
    for function in postgres_functions(schema):
        connection.execute(text(function))
    connection.execute(text(POSTGRES_COLUMN))
    connection.execute(text(POSTGRES_INDEX))


def create(connection: Connection) -> None:
    """The index of this connection's engine, for a ``messages`` table that has none."""
    if connection.dialect.name == "sqlite":
        create_sqlite(connection)
    elif connection.dialect.name == "postgresql":
        create_postgres(connection)


def _after_create(table: Table, connection: Connection, **_: Any) -> None:
    create(connection)


def _after_drop(table: Table, connection: Connection, **_: Any) -> None:
    # PostgreSQL's column and index went with the table; an FTS5 table outlives its content table.
    if connection.dialect.name == "sqlite":
        connection.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))


# The index belongs to the messages table: whoever creates that table with
# metadata.create_all (the tests) gets it too, and loses it with drop_all.
event.listen(Message.__table__, "after_create", _after_create)
event.listen(Message.__table__, "after_drop", _after_drop)

# Names Alembic must leave alone (include_name in migrations/env.py and tests/test_migrations.py).
_TABLES = frozenset({FTS_TABLE, *(f"{FTS_TABLE}_{shadow}" for shadow in ("data", "idx", "content", "docsize",
                                                                         "config"))})


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic's ``include_name`` hook: False for the search index's own objects."""
    if type_ == "table":
        return name not in _TABLES
    if type_ == "column":
        return not (name == SEARCH_COLUMN and parent_names.get("table_name") == "messages")
    if type_ == "index":
        return name != SEARCH_INDEX
    return True
