"""The schema comes only from migrations: `flask db upgrade` on an empty
database yields exactly the models' schema (what `alembic check` verifies)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from chatapp import normalize_database_url
from chatapp.extensions import db
from chatapp.models import search
from tests.support.server import migrate
from tests.support.services import scratch_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def upgraded_url(request, tmp_path):
    if request.param == "postgres":
        with scratch_postgres_database() as url:
            migrate(url)
            yield url
    else:
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
        migrate(url)
        yield url


def test_migrations_produce_exactly_the_models_schema(upgraded_url):
    import chatapp.models  # noqa: F401  (registers every table on db.metadata)

    engine = create_engine(normalize_database_url(upgraded_url))
    try:
        with engine.connect() as connection:
            # The search index is DDL the models do not map (chatapp/models/search.py);
            # tests/services/test_search.py checks it against the migration's.
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True,
                                  "include_name": search.include_name}
            )
            differences = compare_metadata(context, db.metadata)
            tables = set(engine.dialect.get_table_names(connection))
    finally:
        engine.dispose()
    assert differences == []
    assert {t.name for t in db.metadata.sorted_tables} <= tables
