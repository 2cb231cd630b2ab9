"""orjson behind the ``json`` interface python-socketio expects (str out, not bytes), and for Flask."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS
# One nesting policy for REST bodies and socket packets. No payload of the
# contract is deeper than 4 levels (a socket event [name, {cursors: {...}}]);
# 32 leaves room for extensions. Deeper input is refused before any handler
# sees it: the standard library parser (the fallback below) raises
# RecursionError near 1,000 levels, and handlers walking such values would too.
MAX_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH (a ValueError: a malformed payload)."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def _check_depth(value: Any) -> Any:
    # Iterative: the check itself must not recurse. Scalars cost nothing.
    if not isinstance(value, (list, dict)):
        return value
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooDeep()
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return value


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, option=_OPTIONS).decode()


def _may_be_too_deep(data: str | bytes | bytearray | memoryview) -> bool:
    """False when the text cannot nest deeper than MAX_DEPTH: every level opens
    with a ``[`` or ``{`` of its own, so a text with at most MAX_DEPTH of them
    (counted anywhere, strings included) is shallow enough. Counting is C speed;
    walking the parsed value was ~30% of decoding a socket event."""
    if isinstance(data, str):
        return data.count("[") + data.count("{") > MAX_DEPTH
    if isinstance(data, memoryview):
        data = data.tobytes()
    return data.count(b"[") + data.count(b"{") > MAX_DEPTH


def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
    """Parse JSON under the nesting policy; malformed or too deep is a ValueError."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        return _check_depth(value) if _may_be_too_deep(data) else value
    # orjson refuses integers beyond 64 bits and lone surrogate escapes
    # ("\ud800"), which standard JSON clients send fine; parse those with the
    # standard library so the payload gets a validation_error (the services
    # refuse unstorable text) instead of a dropped connection. orjson also
    # stops at 1,024 levels, which the standard parser would turn into a
    # RecursionError: refused as too deep.
    try:
        return _check_depth(json.loads(data))
    except RecursionError:
        raise TooDeep() from None


JSONDecodeError = orjson.JSONDecodeError


class OrjsonProvider(DefaultJSONProvider):
    """orjson for REST bodies too: the history page's JSON is a third of its
    encoding-plus-query time with the standard library. Anything orjson cannot
    encode falls back to Flask's encoder, so behaviour only gets faster."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        try:
            return dumps(obj)
        except TypeError:
            return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
