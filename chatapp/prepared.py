"""Core statements compiled once per dialect and run on the DBAPI cursor.

The send path runs about ten statements per message, thousands of times a
second. SQLAlchemy's ``Connection.execute`` costs tens of microseconds per
statement even for a cached, pre-built one (cache lookup, parameter
processing, a result object); the database itself needs a few. A
``Prepared`` statement keeps what SQLAlchemy would redo each time: the SQL
string, the parameter order and the bind processors (SQLite stores
datetimes as text), computed once per dialect from the same Core statement,
so the SQL is still written once, in SQLAlchemy, for both databases.

It runs inside the session's transaction (the session's connection, its
DBAPI connection), so it mixes freely with ORM and Core statements, and a
driver error is translated and handled exactly as SQLAlchemy does (an
``IntegrityError``, a disconnect that invalidates the pooled connection).

On PostgreSQL the statement is also prepared on the server (``PREPARE``
once per connection, then ``EXECUTE``): psycopg2 sends every statement as text,
which PostgreSQL parses and plans each time, and for the send path's short
statements that planning was most of the database's CPU. Behind a pooler that
does not keep a server connection per client connection (PgBouncer in
transaction mode), set ``CHAT_DB_SERVER_PREPARE=0``.

Only statements without expanding (``IN``) parameters qualify: ``Prepared``
refuses the others when it compiles them. Result values get the column types'
processing as in SQLAlchemy (``first``, ``all``: SQLite's stored datetimes
and booleans come back as ``datetime`` and ``bool``); the cursor of ``run`` is raw.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

BindProcessor = Callable[[Any], Any]
# Per DBAPI connection (pool-level info survives checkouts, dies with the
# connection): the names prepared on that server session, or None when off.
_SERVER_PREPARED = "chat.server_prepared"
_names = itertools.count(1)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[BindProcessor | None, ...]
    positional: bool
    # Binds that carry their own value (literal(0), a column default, LIMIT 1).
    preset: dict[str, Any]
    # Per result column, the type's result processor (None: the driver's value as is);
    # empty when no column needs one.
    results: tuple[BindProcessor | None, ...] = ()

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(value if process is None or value is None else process(value)
                     for value, process in zip(raw, self.results, strict=True))

    def values(self, given: Mapping[str, Any]) -> list[Any]:
        merged = {**self.preset, **given} if self.preset else given
        return [
            value if process is None or value is None else process(value)
            for value, process in zip((merged[name] for name in self.names), self.processors, strict=True)
        ]

    def parameters(self, given: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        processed = self.values(given)
        return processed if self.positional else dict(zip(self.names, processed, strict=True))


@dataclass(frozen=True)
class _ServerPrepared:
    """PostgreSQL: ``PREPARE name (types) AS ...`` with $n placeholders, then
    ``EXECUTE name (%s, ...)`` (psycopg2 quotes the values)."""

    name: str
    prepare: str
    execute: str
    compiled: _Compiled


def _compile(statement: ClauseElement, dialect: Dialect) -> tuple[_Compiled, Any]:
    compiled: Any = statement.compile(dialect=dialect)  # an SQLCompiler
    binds = {name: bind for bind, name in compiled.bind_names.items()}  # by the name in the SQL
    if any(bind.expanding for bind in binds.values()) or compiled.literal_execute_params \
            or compiled.post_compile_params:
        raise ValueError("Prepared statements take no expanding (IN) or render-time parameters")
    untyped = [name for name, bind in binds.items() if bind.required and bind.type._isnull]
    if untyped:
        # Connection.execute guesses a type from each value; this runs no guess.
        raise ValueError(f"Prepared statements need typed parameters: {', '.join(untyped)}")
    positional = bool(compiled.positional)
    names = tuple(compiled.positiontup) if positional else tuple(binds)
    processors = tuple(binds[name].type._cached_bind_processor(dialect) for name in names)
    preset = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
    results = _result_processors(compiled, dialect)
    return _Compiled(compiled.string, names, processors, positional, preset, results), binds


def _result_processors(compiled: Any, dialect: Dialect) -> tuple[BindProcessor | None, ...]:
    """What ``Connection.execute`` would apply to each result column, or () when nothing."""
    processors = tuple(column[3]._cached_result_processor(dialect, None) for column in compiled._result_columns)
    return processors if any(process is not None for process in processors) else ()


def compile_numbered(statement: ClauseElement, dialect: Dialect) -> tuple[_Compiled, Any]:
    """PostgreSQL's own placeholders ($1 for ``names[0]``, a repeated parameter
    reusing its number), and the binds by name."""
    numbered_dialect: Any = type(dialect)
    return _compile(statement, numbered_dialect(paramstyle="numeric_dollar"))


def _server_prepared(statement: ClauseElement, dialect: Dialect) -> _ServerPrepared:
    compiled, binds = compile_numbered(statement, dialect)
    # The parameter types, declared (PostgreSQL cannot infer those of a SELECT
    # list); lengths dropped, so a value is never cut to fit a VARCHAR(n).
    types = [re.sub(r"\(\d+\)", "", dialect.type_compiler_instance.process(binds[name].type))
             for name in compiled.names]
    name = f"chat_prepared_{next(_names)}"
    placeholders = ", ".join(["%s"] * len(compiled.names))
    return _ServerPrepared(
        name,
        f"PREPARE {name} ({', '.join(types)}) AS {compiled.sql}",
        f"EXECUTE {name} ({placeholders})" if compiled.names else f"EXECUTE {name}",
        # The values in $n order, processed with the real dialect's processors.
        _Compiled(compiled.sql, compiled.names,
                  tuple(binds[n].type._cached_bind_processor(dialect) for n in compiled.names), True,
                  compiled.preset, _result_processors(statement.compile(dialect=dialect), dialect)),
    )


class Prepared:
    """One Core statement, compiled on first use for each dialect."""

    __slots__ = ("statement", "_by_dialect", "_server")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._server: _ServerPrepared | None = None

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self.statement, dialect)[0]
        return compiled

    def _server_statement(self, connection: Connection) -> _ServerPrepared | None:
        """The server-side form when this connection prepares statements, else None."""
        if connection.dialect.name != "postgresql":
            return None
        info = connection.connection.info
        if _SERVER_PREPARED not in info:
            info[_SERVER_PREPARED] = set() if current_app.config["DB_SERVER_PREPARE"] else None
        prepared: set[str] | None = info[_SERVER_PREPARED]
        if prepared is None:
            return None
        server = self._server
        if server is None:
            server = self._server = _server_prepared(self.statement, connection.dialect)
        if server.name not in prepared:
            # Not transactional in PostgreSQL: it outlives a rollback of this transaction.
            self.execute_raw(connection, server.prepare, None)
            prepared.add(server.name)
        return server

    def run(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """Execute with ``values`` (by bind name); returns the DBAPI cursor
        (``fetchone()``, ``fetchall()``, ``rowcount``), its values unprocessed."""
        return self._run(connection, values)[0]

    def _run(self, connection: Connection, values: Mapping[str, Any]) -> tuple[Any, _Compiled]:
        server = self._server_statement(connection)
        if server is not None:
            return self.execute_raw(connection, server.execute, server.compiled.values(values)), server.compiled
        compiled = self._compiled(connection.dialect)
        return self.execute_raw(connection, compiled.sql, compiled.parameters(values)), compiled

    def run_after(self, connection: Connection, earlier: Prepared, earlier_values: Mapping[str, Any],
                  values: Mapping[str, Any]) -> Any:
        """``earlier``, then this statement: one round trip where both are prepared on
        the server (PostgreSQL: two ``EXECUTE`` in one query string), two calls
        elsewhere. Returns the cursor of this statement's result. Each statement
        still takes its own snapshot (read committed), exactly as two calls do."""
        first, second = earlier._server_statement(connection), self._server_statement(connection)
        if first is None or second is None:
            earlier.run(connection, earlier_values)
            return self.run(connection, values)
        parameters = [*first.compiled.values(earlier_values), *second.compiled.values(values)]
        return self.execute_raw(connection, f"{first.execute}; {second.execute}", parameters)

    @staticmethod
    def execute_raw(connection: Connection, sql: str, parameters: Any) -> Any:
        """Any SQL on the connection's DBAPI cursor, its errors translated as SQLAlchemy does."""
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql, parameters)
        except connection.dialect.loaded_dbapi.Error as error:
            # SQLAlchemy's own translation: the same exception classes as
            # Connection.execute, and a lost connection is invalidated in the pool.
            connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
            raise  # not reached: the handler raises the translated error
        return cursor

    def first(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first row (a tuple), or None."""
        cursor, compiled = self._run(connection, values)
        row = cursor.fetchone()
        return compiled.row(row) if compiled.results and row is not None else row

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(connection, values)
        return None if row is None else row[0]

    def all(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        cursor, compiled = self._run(connection, values)
        rows = cursor.fetchall()
        return [compiled.row(row) for row in rows] if compiled.results else list(rows)
