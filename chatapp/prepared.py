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

Only statements without expanding (``IN``) parameters and whose results need
no type processing (integers, strings) qualify: ``Prepared`` refuses the
others when it compiles them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

BindProcessor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[BindProcessor | None, ...]
    positional: bool
    # Binds that carry their own value (literal(0), a column default, LIMIT 1).
    preset: dict[str, Any]

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        given = {**self.preset, **values} if self.preset else values
        processed = [
            value if process is None or value is None else process(value)
            for value, process in zip((given[name] for name in self.names), self.processors, strict=True)
        ]
        return processed if self.positional else dict(zip(self.names, processed, strict=True))


def _compile(statement: ClauseElement, dialect: Dialect) -> _Compiled:
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
    return _Compiled(compiled.string, names, processors, positional, preset)


class Prepared:
    """One Core statement, compiled on first use for each dialect."""

    __slots__ = ("statement", "_by_dialect")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = _compile(self.statement, dialect)
        return compiled

    def run(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """Execute with ``values`` (by bind name); returns the DBAPI cursor
        (``fetchone()``, ``fetchall()``, ``rowcount``)."""
        compiled = self._compiled(connection.dialect)
        parameters = compiled.parameters(values)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
        except connection.dialect.loaded_dbapi.Error as error:
            # SQLAlchemy's own translation: the same exception classes as
            # Connection.execute, and a lost connection is invalidated in the pool.
            connection._handle_dbapi_exception(error, compiled.sql, parameters, cursor, None)
            raise  # not reached: the handler raises the translated error
        return cursor

    def first(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first row (a tuple), or None."""
        return self.run(connection, values).fetchone()

    def scalar(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.run(connection, values).fetchone()
        return None if row is None else row[0]

    def all(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        return list(self.run(connection, values).fetchall())
