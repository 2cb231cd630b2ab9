"""Idle writers end by the server's sweep (``internals.WriterSweep``), not by a
timeout on each wait: a writer with nothing queued for the linger ends, a packet
queued just after the sweep's end marker is still written (by the same writer),
and the sweep stops once no writer runs.

Runs in a child process: the queue and tasks are eventlet's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("eventlet")

CHILD = """
    import time
    import eventlet
    import eventlet.queue
    from chatapp.realtime import internals

    internals.WRITER_LINGER_SECONDS = 0.2

    class Server:  # what _WritingQueue and WriterSweep use of an engineio server
        start_background_task = staticmethod(eventlet.spawn)
        sleep = staticmethod(eventlet.sleep)
        get_queue_empty_exception = staticmethod(lambda: eventlet.queue.Empty)

    class WebSocket:
        def __init__(self):
            self.sent = []
        def send(self, data):
            self.sent.append(data)
        def close(self):
            self.sent.append("closed")

    class Packet:
        def __init__(self, text):
            self.text = text
        def encode(self):
            return self.text

    server, ws = Server(), WebSocket()
    queue = internals._writing_queue_class(eventlet.queue.Queue)()
    queue.write_to(ws, server)
    sweep = internals.writer_sweep(server)

    queue.put(Packet("a"))
    eventlet.sleep(0.01)
    print("after a:", ws.sent, "writer", queue.writer is not None, "sweep", sweep.running)

    queue.end_if_idle(time.monotonic() + 1)  # the sweep's end marker, as if idle long enough
    queue.put(Packet("b"))  # queued behind it before the writer ran
    eventlet.sleep(0.01)
    print("after b:", ws.sent, "writer", queue.writer is not None)

    eventlet.sleep(0.5)  # more than linger and a half
    print("idle:", "writer", queue.writer is not None, "sweep", sweep.running, "watched", len(sweep.watched))

    queue.put(Packet("c"))
    queue.put(None)
    eventlet.sleep(0.01)
    print("closed:", ws.sent, "writer", queue.writer is not None)
"""


def test_an_idle_writer_ends_by_the_sweep_and_a_packet_behind_its_end_marker_is_written():
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "after a: ['a'] writer True sweep True",
        "after b: ['a', 'b'] writer True",
        "idle: writer False sweep False watched 0",
        "closed: ['a', 'b', 'c', 'closed'] writer False",
    ]
