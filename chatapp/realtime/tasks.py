"""Background work of one worker: the ``ready`` emit, presence heartbeats and
the debounced offline check. Each task pushes its own app context."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from .. import metrics
from ..attachments import storage as upload_storage
from ..extensions import db
from ..push.targets import Outcome
from ..services import presence, push_delivery, uploads
from . import NAMESPACE

log = logging.getLogger(__name__)

# How long to wait for python-socketio to finish a handshake before giving up on "ready".
READY_WAIT_SECONDS = 5.0


class Tasks:
    def __init__(self, app: Flask, socketio: SocketIO) -> None:
        self.app = app
        self.socketio = socketio
        self._heartbeat_started = False
        self._push_started = False
        self._purge_started = False
        self._lock = threading.Lock()
        # Running one-shot tasks by a key of their own (see ``_spawn``).
        self._pending: dict[object, object] = {}
        # sid -> user id of the sockets accepted on this worker (not parsed out of room names).
        self._users: dict[str, int] = {}
        self.closed = False

    def _spawn(self, target: Callable[..., object], *args: object) -> None:
        """Start a one-shot task and remember it until it ends (see ``shutdown``).

        ``run`` names a key, not the task: a task whose function refers to it is
        a reference cycle, and with the ``ready`` payload in its arguments every
        connect left ~1 KiB for the rare full collection to find (gc thresholds
        in chatapp/__init__.py), instead of freeing it when the task ends.
        """
        key = object()

        def run() -> None:
            try:
                if not self.closed:
                    target(*args)
            finally:
                with self._lock:
                    self._pending.pop(key, None)

        with self._lock:
            self._pending[key] = self.socketio.start_background_task(run)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop taking tasks and wait for the running ones (tests tear down
        their database after this; a server process simply exits)."""
        self.closed = True
        self.socketio.server.manager.stop_keep_alive()  # the Redis manager's route table
        with self._lock:
            pending = list(self._pending.values())
        for task in pending:
            if hasattr(task, "join"):  # threads and greenlets; eventlet is not used by tests
                task.join(timeout)

    def emit_when_connected(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        """Emit right after the handshake completes.

        The connect handler runs before python-socketio sends the CONNECT
        packet, and a client drops events that arrive before it; so the
        ``ready`` event is sent by a task that waits for the connection.
        """
        self._spawn(self._emit_when_connected, sid, event, payload)

    def _emit_when_connected(self, sid: str, event: str, payload: dict[str, Any]) -> None:
        manager = self.socketio.server.manager
        waited = 0.0
        while not manager.is_connected(sid, NAMESPACE):
            if waited >= READY_WAIT_SECONDS:
                return
            self.socketio.sleep(0.005)
            waited += 0.005
        # Direct to the sid on this worker: no need to cross the message queue.
        self.socketio.server.emit(event, payload, to=sid, namespace=NAMESPACE, ignore_queue=True)
        metrics.EVENTS_OUT.labels(event).inc()

    def settle_offline_later(self, user_id: int) -> None:
        self._spawn(self._settle_offline, user_id)

    def _settle_offline(self, user_id: int) -> None:
        # A little past the grace key's expiry, so the key is surely gone
        # unless a later disconnect restarted it.
        self.socketio.sleep(self.app.config["PRESENCE_OFFLINE_GRACE_SECONDS"] + 0.05)
        if self.closed:
            return
        with self.app.app_context():
            try:
                presence.settle_after_grace(user_id)
            except Exception:
                db.session.rollback()
                log.exception("settling presence of user %s failed", user_id)

    def ensure_heartbeat(self) -> None:
        with self._lock:
            if self._heartbeat_started:
                return
            self._heartbeat_started = True
        self.socketio.start_background_task(self._heartbeat_loop)

    def ensure_push_worker(self) -> None:
        """Start this worker's push loop once (every worker runs one; the outbox's
        claim makes each push go out once across them)."""
        with self._lock:  # once per request: an uncontended lock costs ~0.1 µs
            if self._push_started:
                return
            self._push_started = True
        self.socketio.start_background_task(self._push_loop)

    def run_push_loop(self) -> None:
        """The push loop in the caller's thread, until ``closed`` (``chat push-worker``)."""
        with self._lock:
            self._push_started = True
        self._push_loop()

    def _push_loop(self) -> None:
        cfg = self.app.config
        failures = 0
        while not self.closed:
            claimed = 0
            with self.app.app_context():
                try:
                    claimed = push_delivery.deliver_due(self._send_concurrently)
                    failures = 0
                except Exception as exc:
                    db.session.rollback()
                    failures += 1
                    if failures == 1:
                        log.exception("push delivery failed")
                    else:
                        log.warning("push delivery failed again (%s in a row): %s", failures, exc)
                finally:
                    db.session.remove()
            if failures:
                # The database is away (an outage, a restart): back off to a minute
                # instead of a traceback every poll; the jobs wait in the table.
                self._sleep_unless_closed(min(60.0, cfg["PUSH_POLL_SECONDS"] * 2 ** min(failures, 8)))
            elif claimed < cfg["PUSH_BATCH_SIZE"]:
                self.socketio.sleep(cfg["PUSH_POLL_SECONDS"])  # a full batch: more are due, go on

    def _sleep_unless_closed(self, seconds: float) -> None:
        """Sleep in short steps, so a stop (``chat push-worker`` on SIGTERM) is not
        held up by a minute of back-off."""
        end = time.monotonic() + seconds
        while not self.closed and (left := end - time.monotonic()) > 0:
            self.socketio.sleep(min(0.5, left))

    def ensure_upload_purge(self) -> None:
        """Start this worker's upload purge loop once (every worker runs one; the
        purge's claim makes each upload go once across them)."""
        with self._lock:
            if self._purge_started:
                return
            self._purge_started = True
        self.socketio.start_background_task(self._purge_loop)

    def _purge_loop(self) -> None:
        interval = self.app.config["UPLOAD_PURGE_SECONDS"]
        while not self.closed:
            purged = 0
            with self.app.app_context():
                try:
                    purged = uploads.purge()
                    upload_storage.sweep_spool()
                except Exception:
                    db.session.rollback()
                    log.exception("upload purge failed")
                finally:
                    db.session.remove()
            if purged < uploads.PURGE_BATCH:
                self.socketio.sleep(interval)  # a full batch: more are due, go on

    def _send_concurrently(self, pushes: list[push_delivery.Push]) -> list[Outcome]:
        """Send a batch with at most PUSH_CONCURRENCY in flight: background tasks of
        the async mode (green threads under eventlet/gevent, threads otherwise), so
        one slow push service delays its own pushes, not the batch, nor the loop."""
        sender = push_delivery.sender()
        results: list[Outcome | None] = [None] * len(pushes)
        slots = threading.BoundedSemaphore(self.app.config["PUSH_CONCURRENCY"])
        remaining = [len(pushes)]
        finished = threading.Event()
        counter = threading.Lock()

        def one(index: int, push: push_delivery.Push) -> None:
            try:
                with slots:
                    results[index] = sender.send(push.target, push.payload, topic=push.topic,
                                                 urgency=push.urgency, collapse_key=push.collapse_key)
            except Exception:  # the sender classifies failures; this is a bug, not a network error
                log.exception("push to subscription %s failed", push.subscription_id)
                results[index] = Outcome(kind="failed", detail="internal error")
            finally:
                with counter:
                    remaining[0] -= 1
                    if remaining[0] == 0:
                        finished.set()

        for index, push in enumerate(pushes):
            self.socketio.start_background_task(one, index, push)
        if pushes:
            finished.wait()
        return [r if r is not None else Outcome(kind="failed") for r in results]

    def connected(self, sid: str, user_id: int) -> None:
        """A socket of ``user_id`` was accepted on this worker (the heartbeat reports it)."""
        with self._lock:
            self._users[sid] = user_id

    def disconnected(self, sid: str) -> None:
        with self._lock:
            self._users.pop(sid, None)

    def _local_connections(self) -> list[tuple[int, str]]:
        """This worker's (user_id, sid) pairs: the sid-to-user map, limited to the
        sids python-socketio still counts as connected (a missed disconnect is
        not reported alive)."""
        manager = self.socketio.server.manager
        with self._lock:
            users = list(self._users.items())
        return [(uid, sid) for sid, uid in users if manager.is_connected(sid, NAMESPACE)]

    def _heartbeat_loop(self) -> None:
        interval = self.app.config["PRESENCE_HEARTBEAT_SECONDS"]
        while True:
            self.socketio.sleep(interval)
            if self.closed:
                # Shut down while asleep: a sweep now would settle users of a database
                # that is no longer this server's (tests reuse one; ids repeat).
                return
            with self.app.app_context():
                try:
                    presence.heartbeat(self._local_connections())
                    # A worker killed with SIGKILL never said goodbye: settle its users.
                    presence.sweep_expired()
                except Exception:
                    db.session.rollback()
                    log.exception("presence heartbeat failed")
