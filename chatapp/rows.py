"""Core result rows as named tuples, for the loops that read many fields of many rows.

SQLAlchemy's ``Row`` answers ``row.name`` from ``__getattr__``, only after the
normal attribute lookup has failed: about 0.5 µs a field here, ten times an
index. A history page reads some twenty fields of each of its 51 rows, which
made that lookup a fifth of the page. A named tuple built once per row (its
type cached per column list) answers the same names at C speed, so the code
that reads the rows keeps reading them by name.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Row


@lru_cache(maxsize=128)
def _tuple_type(fields: tuple[str, ...]) -> Any:
    return namedtuple("CoreRow", fields)  # noqa: PYI024 - its fields are only known at run time


def by_name(rows: Sequence[Any]) -> Sequence[Any]:
    """``rows`` with cheap attribute access: Core rows become named tuples of the same
    fields in the same order; anything else (ORM objects, already converted rows) as given.
    Rows whose names cannot be tuple fields (a label such as ``count(*)``) stay as they are."""
    if not rows or not isinstance(rows[0], Row):
        return rows
    try:
        make = _tuple_type(tuple(rows[0]._fields))._make
    except ValueError:
        return rows
    return [make(row) for row in rows]
