"""The python-socketio / python-engineio internals this package borrows, in one list.

guard.py, managers.py and sessionids.py override or call these; they are not
public API and may change in any release. ``check()`` (run by
tests/realtime/test_internals.py, so in CI) fails loudly when the installed
versions differ from the ones the overrides were written and tested for, or
when a borrowed attribute is gone: upgrade, re-read the library's code for
each entry, then update WRITTEN_FOR. The same test pins, in the libraries'
source, the behaviour each override relies on (RELIED_ON there).
"""

from __future__ import annotations

import logging
from importlib.metadata import version

import engineio
import socketio

WRITTEN_FOR = {"python-socketio": "5.18.1", "python-engineio": "4.15.1"}

# (class, attribute, who relies on it and for what)
BORROWED: list[tuple[type, str, str]] = [
    (socketio.Server, "_handle_eio_message", "guard: refuse binary/malformed packets before buffering"),
    (socketio.Server, "_handle_event", "guard: event shape and reserved names"),
    (socketio.Server, "_send_packet", "guard: error ack for a too-deep event"),
    (socketio.Server, "_binary_packet", "guard: drop a refused socket's buffered attachments"),
    (engineio.Server, "_trigger_event", "guard: end a refused socket's reader"),
    (engineio.Server, "generate_id", "sessionids: the one place session ids are made"),
    (socketio.RedisManager, "_publish", "managers: batching and failure counting"),
    (socketio.RedisManager, "_listen", "managers: split batches"),
    (socketio.RedisManager, "_redis_connect", "managers: keep subscribe confirmations"),
    (socketio.RedisManager, "_redis_listen_with_retries", "managers: resync after a lost subscription"),
    (socketio.RedisManager, "_handle_close_room", "managers: disconnect a room on every worker"),
]


def check() -> list[str]:
    """What no longer matches: empty when the overrides still apply."""
    problems = [
        f"{name} {version(name)} installed, the overrides were written for {wanted}"
        for name, wanted in WRITTEN_FOR.items()
        if version(name) != wanted
    ]
    problems += [
        f"{cls.__module__}.{cls.__name__}.{attribute} is gone ({why})"
        for cls, attribute, why in BORROWED
        if not hasattr(cls, attribute) and not _set_in_init(cls, attribute)
    ]
    return problems


def warn_if_changed(logger: logging.Logger) -> None:
    """At startup: a deployment that upgraded the libraries without the tests says so in its log."""
    for problem in check():
        logger.warning("python-socketio internals: %s (chatapp/realtime/internals.py)", problem)


def _set_in_init(cls: type, attribute: str) -> bool:
    """An instance attribute (``_binary_packet``): assigned by some ``__init__`` of the class."""
    for klass in cls.__mro__:
        code = getattr(vars(klass).get("__init__"), "__code__", None)
        if code is not None and attribute in code.co_names:
            return True
    return False
