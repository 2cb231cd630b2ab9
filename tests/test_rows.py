"""chatapp/rows.py: Core rows read by name at C speed, with the same names and values."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from chatapp.rows import by_name


def _rows(sql: str) -> list:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


def test_core_rows_become_tuples_with_the_same_names_values_and_order() -> None:
    rows = _rows("SELECT 1 AS id, 'hi' AS body, 0 AS deleted UNION ALL SELECT 2, 'yo', 1")
    plain = by_name(rows)
    assert [(r.id, r.body, r.deleted) for r in plain] == [(1, "hi", 0), (2, "yo", 1)]
    assert [tuple(r) for r in plain] == [tuple(r) for r in rows]
    assert all(type(r) is type(plain[0]) for r in plain)  # one type per column list


def test_anything_that_is_not_a_core_row_is_returned_as_given() -> None:
    objects = [object(), object()]
    assert by_name(objects) is objects
    assert by_name([]) == []


def test_rows_whose_names_cannot_be_fields_stay_rows_and_keep_working() -> None:
    rows = _rows('SELECT 1 AS "count(*)", 2 AS _private')
    assert by_name(rows) is rows
    assert tuple(rows[0]) == (1, 2)
