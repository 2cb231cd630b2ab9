"""A finished one-shot task leaves nothing for the cyclic garbage collector.

Every connect spawns one (the ``ready`` emit) with the ready payload in its
arguments. Under eventlet the task object is engineio's ``EventletThread``,
which keeps its target after it ran (``threading.Thread`` drops it); with the
server's gc thresholds a reference cycle through it would keep every payload
until a rare full collection.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable

from chatapp.realtime.tasks import Tasks


class KeepsItsTarget:
    """A background task like engineio's EventletThread: the target stays referenced."""

    def __init__(self, target: Callable[[], object]) -> None:
        self.target = target
        self.thread = threading.Thread(target=target)
        self.thread.start()


class FakeSocketIO:
    def start_background_task(self, target: Callable[[], object]) -> KeepsItsTarget:
        return KeepsItsTarget(target)


class Payload:
    """Stands for the ready payload: weak-referenceable, unlike a dict."""


def test_a_finished_task_frees_its_arguments_without_the_cycle_collector(app):
    tasks = Tasks(app, FakeSocketIO())  # type: ignore[arg-type]
    ran: list[bool] = []
    payload = Payload()
    alive = weakref.ref(payload)
    gc.disable()
    try:
        tasks._spawn(lambda p: ran.append(p is not None), payload)
        del payload
        deadline = time.monotonic() + 5
        while tasks._pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ran == [True]
        assert not tasks._pending
        # The thread lets go of its target as it exits, a moment after the task ended.
        while alive() is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert alive() is None
    finally:
        gc.enable()
