"""Where a push's CPU goes, in process: the send's outbox statement, then each phase of delivery.

The server measurement (bench/push.py) says how much more CPU a message costs
when it causes a push; this says where. One app in this process (threading
mode, the same code the worker runs, no eventlet), on the database under test:

- **send**: ``messaging.send_message`` alternating between a conversation whose
  recipient has no device and one whose recipient has one, timed per call
  (``time.thread_time``), and ``push_outbox.enqueue_message`` inside it alone
  (the ``INSERT ... SELECT``, wrapped here for the measurement only).
- **deliver**: the queued jobs pushed to the sink in batches of
  ``PUSH_BATCH_SIZE``, exactly the steps of ``push_delivery.deliver_due`` but
  timed one by one: claim, plan, mark_pushed, the request build (encryption and
  headers, ``PushSender.build_webpush``), the HTTP exchange (resolve, POST,
  answer), record. The sink runs in its own thread, off this thread's clock.
- a cProfile of the delivery loop: the functions with the most own time.

Sequential sends (``send_sequentially``): the worker's green threads add their
own switching, which the server figure includes and this does not.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench import dataset
from bench.push import PUSH_DEADLINE_SECONDS, vapid_key
from bench.push_sink import PushSink


def _us(seconds: float, count: int) -> float | None:
    return round(seconds * 1e6 / count, 1) if count else None


class Clock:
    """Thread CPU per named phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        t0 = time.thread_time()
        try:
            return work()
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - t0


def profile(url: str, *, pairs: int = 100, messages: int = 2000, top: int = 25) -> dict:
    """Half the pairs' recipients subscribed; ``messages`` sends alternating between
    the halves; then their jobs delivered, the first half timed by phase, the
    second under cProfile (its overhead would distort the phase timings)."""
    from chatapp import create_app

    ds = dataset.build(url, dm_pairs=pairs)
    half = len(ds.direct_pairs) // 2
    quiet, pushed = ds.direct_pairs[:half], ds.direct_pairs[half:]
    app = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=url, PUSH_ALLOW_INSECURE=True, VAPID_PRIVATE_KEY=vapid_key(),
        PUSH_DELAY_SECONDS=0.0, RATE_MESSAGES_BURST=10**9, RATE_MESSAGES_PER_SECOND=10**9,
    )  # fmt: skip
    with PushSink() as sink:
        # Before the app context below: requests inside it would share its ``g``,
        # and with it Flask-Login's user of the first request.
        subscribed = _subscribe_in_process(app.test_client(), ds, pushed, sink)
        with app.app_context():
            send = _sends(ds, quiet, pushed, messages)
            deliver = _deliveries(app, sink, top)
    return {
        "db": "postgres" if url.startswith("postgres") else "sqlite",
        "subscriptions": subscribed,
        "messages_per_kind": messages // 2,
        "send": send,
        **deliver,
    }


def _sends(ds: dataset.Dataset, quiet: list, pushed: list, messages: int) -> dict:
    from chatapp.extensions import db
    from chatapp.models import User
    from chatapp.services import messaging, push_outbox

    enqueue = push_outbox.enqueue_message
    pushed_cids = {cid for _, _, cid in pushed}
    clock = Clock()

    def timed_enqueue(*args: Any, **kwargs: Any) -> None:
        kind = "with" if args[0] in pushed_cids else "without"
        clock.run(f"enqueue_{kind}", lambda: enqueue(*args, **kwargs))

    senders = {uid: db.session.get_one(User, uid) for uid, _, _ in ds.direct_pairs}
    for user in senders.values():
        db.session.expunge(user)  # as the socket layer keeps it: loaded once, detached
    times: dict[str, list[float]] = {"without": [], "with": []}
    push_outbox.enqueue_message = timed_enqueue  # type: ignore[assignment]
    try:
        for i in range(messages):
            kind = "with" if i % 2 else "without"
            sender, _, cid = (pushed if kind == "with" else quiet)[(i // 2) % len(quiet)]
            t0 = time.thread_time()
            messaging.send_message(senders[sender], cid, f"{i} a benchmark message of about forty", str(uuid.uuid4()))
            times[kind].append(time.thread_time() - t0)
            db.session.remove()
    finally:
        push_outbox.enqueue_message = enqueue  # type: ignore[assignment]
    out: dict[str, Any] = {
        kind: {"mean_us": _us(sum(v), len(v)), "median_us": round(statistics.median(v) * 1e6, 1)}
        for kind, v in times.items()
    }
    for kind, v in times.items():
        out[f"enqueue_{kind}_us"] = _us(clock.seconds.get(f"enqueue_{kind}", 0.0), len(v))
    out["jobs_queued"] = push_outbox.pending_count()
    return out


def _deliveries(app: Any, sink: PushSink, top: int) -> dict:
    from chatapp.extensions import db
    from chatapp.services import push_delivery, push_outbox

    batch, lease = app.config["PUSH_BATCH_SIZE"], app.config["PUSH_LEASE_SECONDS"]
    sender = push_delivery.sender()
    received0 = len(sink.received)
    # CPU of this thread, not wall time: the wall clock would charge this thread
    # with the sink's answer time (another thread, competing for the GIL).
    clock, profiler = Clock(), cProfile.Profile(time.thread_time)
    timed = {"jobs": 0, "pushes": 0}
    profiled = {"jobs": 0, "pushes": 0}
    half = push_outbox.pending_count() // 2
    while True:
        counts = timed if timed["jobs"] < half else profiled
        if counts is profiled:
            profiler.enable()
        jobs = clock.run("claim", lambda: push_outbox.claim(batch, lease))
        if not jobs:
            profiler.disable()
            break
        plan = clock.run("plan", lambda j=jobs: push_delivery.plan(j))
        clock.run("mark_pushed", lambda p=plan: push_outbox.mark_pushed(push_delivery._about_to_push(p)))
        outcomes = [_send_timed(clock, sender, p) for p in plan]
        clock.run("record", lambda j=jobs, p=plan, o=outcomes: push_delivery.record(j, p, o))
        profiler.disable()
        db.session.remove()
        counts["jobs"] += len(jobs)
        counts["pushes"] += len(plan)
        if counts is timed:
            timed_seconds = dict(clock.seconds)
    total = timed["pushes"] + profiled["pushes"]
    deadline = time.monotonic() + PUSH_DEADLINE_SECONDS
    while len(sink.received) - received0 < total and time.monotonic() < deadline:
        time.sleep(0.01)
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    phases = {name: _us(seconds, timed["pushes"]) for name, seconds in timed_seconds.items()}
    return {
        "jobs_delivered": timed["jobs"] + profiled["jobs"],
        "pushes_sent": total,
        "pushes_received": len(sink.received) - received0,
        "batch_size": batch,
        "deliver_us_per_push": {**phases, "total": _us(sum(timed_seconds.values()), timed["pushes"])},
        "timed_pushes": timed["pushes"],
        "profiled_pushes": profiled["pushes"],
        "profile_top_tottime": _trim(stream.getvalue()),
    }


def _subscribe_in_process(client: Any, ds: dataset.Dataset, pairs: list, sink: PushSink) -> int:
    """``POST /push/subscriptions`` through the test client (bench/push.py does it over HTTP)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    count = 0
    for _, recipient, _ in pairs:
        public = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        body = {
            "type": "webpush",
            "endpoint": f"{sink.origin}/push/{recipient}-{secrets.token_urlsafe(6)}",
            "keys": {"p256dh": b64(public), "auth": b64(secrets.token_bytes(16))},
        }
        answer = client.post(
            "/api/v1/push/subscriptions", json=body, headers={"Authorization": f"Bearer {ds.tokens[recipient]}"}
        )
        assert answer.status_code == 201, answer.get_data(as_text=True)
        count += 1
    return count


def _send_timed(clock: Clock, sender: Any, push: Any) -> Any:
    """``PushSender.send`` for a Web Push target, split into its request build and its exchange."""
    import orjson

    from chatapp.push import endpoints, webpush
    from chatapp.push.targets import Outcome
    from chatapp.push.transport import TransportError

    plaintext = clock.run("payload_json", lambda: orjson.dumps(push.payload))
    built = clock.run(
        "encrypt_and_headers",
        lambda: sender.build_webpush(push.target, plaintext, topic=push.topic, urgency=push.urgency, ttl=86400),
    )
    if isinstance(built, Outcome):
        return built
    parts, headers, body = built

    def exchange() -> Outcome:
        addresses = endpoints.resolve(parts, allow_insecure=sender.allow_insecure)
        try:
            return webpush.classify(sender.transport.post(parts, addresses, headers, body))
        except TransportError as exc:
            return Outcome("retry", detail=str(exc))

    return clock.run("http_exchange", exchange)


def _trim(text: str) -> str:
    """pstats' table without its preamble, file paths cut to the package."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().startswith("ncalls")), 0)
    return "\n".join(_SHORTEN.sub("", line.rstrip()) for line in lines[start:] if line.strip())


_SHORTEN = re.compile(r"/\S*?(site-packages|/work/main|lib/python3\.\d+)/")


def main() -> None:
    import json
    import sys

    from bench import run

    db = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    with run.scratch_db(db) as url:
        print(json.dumps(profile(url), indent=1))


if __name__ == "__main__":
    main()
