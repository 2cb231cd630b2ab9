"""Run CPU-heavy calls (password hashing) off the event loop.

Under eventlet or gevent a 20 ms Argon2 hash on the hub would stall every
socket of the worker for that long; their native thread pools run it beside
the loop. At most ``CPU_SLOTS`` run at once, so a burst of logins cannot take
every core from the loop that serves the sockets (nor be a cheap DoS).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar, cast

from ..extensions import socketio

T = TypeVar("T")

# Created after monkey-patching (wsgi.py patches first), so under eventlet and
# gevent this semaphore makes green threads wait, not the hub.
CPU_SLOTS = max(1, (os.cpu_count() or 2) - 1)
_slots = threading.BoundedSemaphore(CPU_SLOTS)


def run_blocking(fn: Callable[..., T], *args: object) -> T:
    with _slots:
        return _run(fn, *args)


def _run(fn: Callable[..., T], *args: object) -> T:
    mode = getattr(socketio, "async_mode", "threading")
    if mode == "eventlet":
        from eventlet import tpool

        return cast(T, tpool.execute(fn, *args))
    if mode == "gevent":
        import gevent

        return cast(T, gevent.get_hub().threadpool.apply(fn, args))
    return fn(*args)
