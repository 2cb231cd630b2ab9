"""``chat push-worker``: a process that only delivers pushes.

Why a process of its own: encrypting, signing and sending a push costs a
socket worker about half as much CPU again as the send that caused it
(bench/results/push.md), and the event loop that runs it is the one that
acknowledges every other user's message. Socket workers started with
``CHAT_PUSH_WORKER=0`` only queue jobs (one ``INSERT ... SELECT`` in the send's
transaction); one or more of these processes claim and send them
(services/push_outbox.py: ``SKIP LOCKED`` and a lease, so any number can run,
and a killed one loses nothing). No HTTP port, no sockets: it stops on SIGTERM
or SIGINT after the batch in hand.
"""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .realtime.tasks import Tasks


def run(app: Flask) -> None:
    """Deliver due pushes until a stop signal; returns once the loop has ended."""
    tasks: Tasks = app.extensions["chat.tasks"]

    def stop(signum: int, _frame: FrameType | None) -> None:
        # Only the flag: writing here could re-enter a write the signal interrupted.
        # A second signal takes the default action (exits at once).
        tasks.closed = True
        signal.signal(signum, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    cfg = app.config
    # Absolute, not added to what the process inherited (a niced supervisor).
    niceness = max(os.getpriority(os.PRIO_PROCESS, 0), cfg["PUSH_WORKER_NICE"])
    os.setpriority(os.PRIO_PROCESS, 0, niceness)
    # Printed whatever CHAT_LOG_LEVEL says: supervisors and tests wait for this line.
    click.echo(f"push worker: delivering (batches of {cfg['PUSH_BATCH_SIZE']}, poll {cfg['PUSH_POLL_SECONDS']} s, "
               f"{cfg['PUSH_CONCURRENCY']} in flight, async mode {cfg['ASYNC_MODE']}, nice {niceness})", err=True)
    tasks.run_push_loop()
    click.echo("push worker: stopped after the batch in hand", err=True)


@click.command("push-worker")
@with_appcontext
def push_worker_command() -> None:
    """Deliver push notifications (run beside socket workers started with CHAT_PUSH_WORKER=0)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run(current_app._get_current_object())  # type: ignore[attr-defined]
