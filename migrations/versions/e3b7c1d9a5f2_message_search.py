"""message search: each engine's own full-text index of messages (PROTOCOL.md v2 "Search")

Revision ID: e3b7c1d9a5f2
Revises: f4c8d2e0b6a3
Create Date: 2026-12-02 10:00:00

SQLite: an FTS5 table over messages (external content, rowid = message id,
body and conversation_id indexed, unicode61 with diacritics removed, prefix
indexes for 1-3 characters) kept exact by three triggers; existing messages are
indexed by 'rebuild'. PostgreSQL: the unaccent extension, two IMMUTABLE
functions (immutable_unaccent, chat_search_text), the stored generated column
messages.search_vector (computed for existing rows by the ALTER) and its GIN
index. chatapp/models/search.py explains the choices and builds the same
objects for db.create_all(); this file keeps its own copy of the statements, as
a migration must (a later change of the module must not rewrite history), and
tests/services/test_search.py checks the two paths give identical objects.

On SQLite, a later batch_alter_table("messages") rebuilds the table and drops
these triggers with it: such a migration must create them again.
"""
from alembic import op


revision = 'e3b7c1d9a5f2'
down_revision = 'f4c8d2e0b6a3'
branch_labels = None
depends_on = None

PUNCTUATION = """!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"""

SQLITE = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    body, conversation_id,
    content='messages', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3', columnsize=0
)""",
    """CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body, conversation_id) VALUES (new.id, new.body, new.conversation_id);
END""",
    """CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
END""",
    """CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF body, conversation_id ON messages
WHEN old.body IS NOT new.body OR old.conversation_id IS NOT new.conversation_id BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body, conversation_id)
        VALUES ('delete', old.id, old.body, old.conversation_id);
    INSERT INTO messages_fts(rowid, body, conversation_id) VALUES (new.id, new.body, new.conversation_id);
END""",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
    "INSERT INTO messages_fts(messages_fts) VALUES ('optimize')",
)


def _literal(value):
    return "'" + value.replace("'", "''") + "'"


def _postgres_functions(schema):
    schema = '"' + schema.replace('"', '""') + '"'
    return (
        f"""CREATE OR REPLACE FUNCTION immutable_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, $1) $$""",
        f"""CREATE OR REPLACE FUNCTION chat_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT translate(immutable_unaccent(lower($1)), {_literal(PUNCTUATION)},
                           {_literal(" " * len(PUNCTUATION))}) $$""",
    )


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        schema = bind.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        ).scalar_one()
        for statement in _postgres_functions(schema):
            op.execute(statement)
        op.execute(
            "ALTER TABLE messages ADD COLUMN search_vector tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, chat_search_text(body))) STORED"
        )
        op.execute("CREATE INDEX ix_messages_search_vector ON messages USING gin (search_vector)")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("messages_fts_update", "messages_fts_delete", "messages_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS messages_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_search_vector")
        op.execute("ALTER TABLE messages DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP FUNCTION IF EXISTS chat_search_text(text)")
        op.execute("DROP FUNCTION IF EXISTS immutable_unaccent(text)")
        # The unaccent extension stays: other objects of the database may use it, and
        # dropping an extension needs more privileges than creating a trusted one.
