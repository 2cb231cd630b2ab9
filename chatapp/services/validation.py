"""Type checks for untrusted payload values, shared by REST and socket paths.

Services call these on every argument that came from a client, so a wrong
type is a ``validation_error`` whichever transport carried it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, cast

from .errors import ValidationError, field_error

MISSING: Any = object()
# IDs are integers that fit a signed 64-bit column.
MAX_ID = 2**63 - 1
# Integers in paths and query strings: ASCII digits only. Python's int() would
# also take "1_0", " 1", "+1" and non-ASCII digits ("\u0663"), turning a
# malformed id into a lookup of some other, well-formed one.
DECIMAL_RE = re.compile(r"-?[0-9]{1,30}")  # longer is malformed (and int() of huge text is slow)

# Text the databases cannot store: PostgreSQL refuses NUL in text columns
# (psycopg2 raises before sending), and a lone surrogate (JSON "\ud800", which
# the standard JSON parser accepts) is not UTF-8 at all, so neither database
# driver can encode it. Refused here, in string(), which every string input
# passes through (bodies, names, emoji, client ids, query strings, path parts,
# socket payloads), instead of a 500 from the driver.
UNSTORABLE = "must not contain NUL or unpaired surrogate characters"
# Characters that render as nothing: format characters (zero-width space,
# joiners, word joiner, BOM, bidi marks, tags), spaces and separators,
# controls. A body made only of these is empty to the reader.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
# Letters and marks that draw nothing but are not in those categories: the
# combining grapheme joiner, Hangul fillers, Khmer inherent vowels, the braille
# blank, variation selectors. (A combining mark alone still draws a dotted circle.)
INVISIBLE_EXTRA = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)


def require_object(payload: Any) -> dict[str, Any]:
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


def storable(value: str) -> bool:
    """False for text a database cannot store (NUL, lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")  # C speed; fails exactly on surrogates
    except UnicodeEncodeError:
        return False
    return True


def visible(value: str) -> bool:
    """True when at least one character draws something."""
    return any(
        ch not in INVISIBLE_EXTRA and unicodedata.category(ch) not in INVISIBLE_CATEGORIES for ch in value
    )


def string(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is MISSING or value is None:
        if required:
            raise field_error(field, "required")
        return None
    if not isinstance(value, str):
        raise field_error(field, "must be a string")
    if not storable(value):
        raise field_error(field, UNSTORABLE)
    return value


def boolean(value: Any, field: str) -> bool:
    if value is MISSING or value is None:
        raise field_error(field, "required")
    if not isinstance(value, bool):
        raise field_error(field, "must be a boolean")
    return value


def text(value: Any, field: str, *, max_chars: int, min_chars: int = 1) -> str:
    """A trimmed string whose length, in Unicode code points, is within bounds.

    Only invisible characters (zero-width spaces, joiners, BOMs) count as empty.
    """
    raw = string(value, field)
    assert raw is not None
    trimmed = raw.strip()
    if min_chars >= 1 and trimmed and not visible(trimmed):
        trimmed = ""
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
    return cast(str, value)  # equal to one of the options


def id_list(value: Any, field: str, *, max_items: int) -> list[int]:
    if value is MISSING or value is None:
        return []
    if not isinstance(value, list):
        raise field_error(field, "must be a list of integers")
    if len(value) > max_items:
        raise field_error(field, f"at most {max_items} items")
    return list(dict.fromkeys(entity_id(item, field) for item in value))


def clamp_limit(value: Any, default: int, maximum: int) -> int:
    """A page size: absent is ``default``, above ``maximum`` is clamped (contract), below 1 is refused."""
    if value is None or value is MISSING:
        return default
    number = integer(value, "limit", minimum=1)
    assert number is not None
    return min(number, maximum)


def escape_like(value: str) -> str:
    """``value`` as a literal inside a LIKE pattern (with ``escape="\\"``): a user's ``%`` or ``_`` matches itself."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
