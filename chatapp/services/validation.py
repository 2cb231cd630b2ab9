"""Type checks for untrusted payload values, shared by REST and socket paths.

Services call these on every argument that came from a client, so a wrong
type is a ``validation_error`` whichever transport carried it.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ValidationError, field_error

MISSING: Any = object()
# IDs are integers that fit a signed 64-bit column.
MAX_ID = 2**63 - 1
# Integers in paths and query strings: ASCII digits only. Python's int() would
# also take "1_0", " 1", "+1" and non-ASCII digits ("\u0663"), turning a
# malformed id into a lookup of some other, well-formed one.
DECIMAL_RE = re.compile(r"-?[0-9]{1,30}")  # longer is malformed (and int() of huge text is slow)


def require_object(payload: Any) -> dict:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise ValidationError("payload must be a JSON object")
    return payload


def integer(value: Any, field: str, *, minimum: int | None = None, required: bool = True) -> int | None:
    if value is MISSING or value is None:
        if required:
            raise field_error(field, "required")
        return None
    # bool is an int subclass in Python; JSON true is not an id.
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, "must be an integer")
    if abs(value) > MAX_ID:
        raise field_error(field, "out of range")
    if minimum is not None and value < minimum:
        raise field_error(field, f"must be at least {minimum}")
    return value


def entity_id(value: Any, field: str) -> int:
    """A well-formed id: a positive integer. Unknown ids are the service's not_found."""
    result = integer(value, field, minimum=1)
    assert result is not None
    return result


def query_int(value: str | None, field: str, *, minimum: int | None = None) -> int | None:
    """Integers from a query string, where everything arrives as text."""
    if value is None or value == "":
        return None
    if not DECIMAL_RE.fullmatch(value):
        raise field_error(field, "must be an integer")
    return integer(int(value, 10), field, minimum=minimum)


def string(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is MISSING or value is None:
        if required:
            raise field_error(field, "required")
        return None
    if not isinstance(value, str):
        raise field_error(field, "must be a string")
    return value


def boolean(value: Any, field: str) -> bool:
    if value is MISSING or value is None:
        raise field_error(field, "required")
    if not isinstance(value, bool):
        raise field_error(field, "must be a boolean")
    return value


def text(value: Any, field: str, *, max_chars: int, min_chars: int = 1) -> str:
    """A trimmed string whose length, in Unicode code points, is within bounds."""
    raw = string(value, field)
    assert raw is not None
    trimmed = raw.strip()
    if len(trimmed) < min_chars:
        raise field_error(field, "must not be empty" if min_chars == 1 else f"at least {min_chars} characters")
    if len(trimmed) > max_chars:
        raise field_error(field, f"at most {max_chars} characters")
    return trimmed


def client_id(value: Any) -> str:
    raw = string(value, "client_id")
    assert raw is not None
    if not 1 <= len(raw) <= 64:
        raise field_error("client_id", "must be 1 to 64 characters")
    return raw


def choice(value: Any, field: str, options: tuple[str, ...], default: str) -> str:
    if value is MISSING or value is None:
        return default
    if value not in options:
        raise field_error(field, f"must be one of {', '.join(options)}")
    return value


def id_list(value: Any, field: str, *, max_items: int) -> list[int]:
    if value is MISSING or value is None:
        return []
    if not isinstance(value, list):
        raise field_error(field, "must be a list of integers")
    if len(value) > max_items:
        raise field_error(field, f"at most {max_items} items")
    return list(dict.fromkeys(entity_id(item, field) for item in value))
