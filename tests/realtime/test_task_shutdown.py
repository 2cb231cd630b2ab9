"""A server's background loops do nothing more once it is shut down.

The presence heartbeat sleeps a whole interval between sweeps. Woken after
``shutdown``, a sweep would settle "expired" users by id in a database that is
no longer this server's: in the test suite, the next test's user with the same
id got a ``last_seen_at`` (a flaky presence test on PostgreSQL).
"""

from __future__ import annotations

import threading
import time

from chatapp.realtime import tasks as tasks_module


def test_the_heartbeat_woken_after_shutdown_does_not_sweep(app, monkeypatch) -> None:
    app.config["PRESENCE_HEARTBEAT_SECONDS"] = 0.2
    sweeps: list[float] = []
    swept = threading.Event()

    def sweep() -> list[int]:
        sweeps.append(time.monotonic())
        swept.set()
        return []

    monkeypatch.setattr(tasks_module.presence, "sweep_expired", sweep)
    tasks = app.extensions["chat.tasks"]
    tasks.ensure_heartbeat()
    assert swept.wait(5), "the heartbeat never swept"
    tasks.shutdown()  # while the loop sleeps its next interval
    stopped = time.monotonic()
    time.sleep(0.6)  # three intervals
    assert [t for t in sweeps if t > stopped] == []
