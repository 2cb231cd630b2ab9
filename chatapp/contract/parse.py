"""Input validation from the contract's types, with the contract's error envelope.

``parse(SendPayload, data)`` checks the shape and the types of a client's
payload (msgspec, strict: ``true`` is not an id, ``"1"`` is not an integer) and
answers ``validation_error`` with ``fields`` in the words of
services/validation.py, never the library's own error. The rules that need
more than a type (the text rule for NUL, lone surrogates and invisible
characters, trimming before counting, configurable limits) stay in
services/validation.py, where the services apply them to these values.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import msgspec

from ..services.errors import ValidationError
from ..services.validation import UNSTORABLE
from .limits import MAX_ID

T = TypeVar("T", bound=msgspec.Struct)

_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$(.*)`)?")
_AT = re.compile(r" - at `\$(.*)`$")
_TYPE_WORDS = {
    "int": "must be an integer", "str": "must be a string", "bool": "must be a boolean",
    "object": "must be an object", "array": "must be a list",
}


def parse(kind: type[T], data: Any) -> T:
    """``data`` (a dict from the JSON parser) as a ``kind``, or ``validation_error``."""
    try:
        return msgspec.convert(data, kind, strict=True)
    except UnicodeEncodeError:
        # msgspec encodes object keys (and strings it matches) as UTF-8: a lone
        # surrogate anywhere, an unknown key included, is the text rule's case.
        raise ValidationError(f"payload: {UNSTORABLE}", fields={"payload": UNSTORABLE}) from None
    except msgspec.ValidationError as exc:
        field, reason = describe(str(exc))
        if reason == NOT_ALLOWED:
            reason = _choices(kind, field) or reason
        raise ValidationError(f"{field}: {reason}", fields={field: reason}) from None


NOT_ALLOWED = "not one of the allowed values"


def _choices(kind: type[msgspec.Struct], field: str) -> str | None:
    """"must be one of a, b" for a top-level Literal field, in the words of validation.choice."""
    hint = get_type_hints(kind, include_extras=True).get(field)
    stack: list[Any] = [hint]
    options: list[str] = []
    while stack:
        node = stack.pop()
        if get_origin(node) is Literal:
            options.extend(str(option) for option in get_args(node))
        else:
            stack.extend(get_args(node))
    return f"must be one of {', '.join(options)}" if options else None


def describe(error: str) -> tuple[str, str]:
    """(field, reason) for a msgspec validation message."""
    missing = _MISSING_FIELD.fullmatch(error)
    if missing:
        return _field(missing.group(2) or "", missing.group(1)), "required"
    at = _AT.search(error)
    path = at.group(1) if at else ""
    text = error[: at.start()] if at else error
    field = _field(path, None)
    if "got `null`" in text:
        return field, "required"
    if "out of range" in text or f"<= {MAX_ID}" in text:
        return field, "out of range"
    bound = re.search(r"(>=|<=) (-?\d+)", text)
    if bound and "of length" in text:
        unit = "characters" if "`str`" in text else "items"
        return field, (f"at least {bound.group(2)} {unit}" if bound.group(1) == ">=" else
                       f"at most {bound.group(2)} {unit}")
    if bound:
        return field, (f"must be at least {bound.group(2)}" if bound.group(1) == ">=" else
                       f"must be at most {bound.group(2)}")
    expected = re.match(r"Expected `([a-z]+)`", text)
    if expected:
        return field, _TYPE_WORDS.get(expected.group(1), text)
    if text.startswith("Invalid enum value"):
        return field, NOT_ALLOWED
    return field, text


def _field(path: str, leaf: str | None) -> str:
    # "$.cursors[...]" -> "cursors"; "$.user.id" -> "user.id"; the payload itself -> "payload".
    parts = [part for part in re.sub(r"\[[^\]]*\]", "", path).split(".") if part]
    if leaf:
        parts.append(leaf)
    return ".".join(parts) or "payload"
