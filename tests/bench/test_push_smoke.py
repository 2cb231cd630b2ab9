"""The push step (bench/push.py) in small: real server processes, the Node
generator, the local sink, SQLite. A check of the instrument, not of the
figures (those live in `make bench`): every send acknowledged; with
subscriptions every message pushed exactly once, each push decrypted with its
subscription's keys and matched to its message, no sooner than the configured
delay, nothing left in the outbox; without subscriptions nothing pushed; with
delivery offloaded, the second process pushes everything; the report renders.
The judge itself is checked on hand-made pushes: it must notice a duplicate, a
push nobody subscribed to and one that does not decrypt."""

from __future__ import annotations

import os
import secrets

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench import push, push_report, run
from bench.push_sink import Push
from chatapp.push.webpush import encrypt

pytestmark = pytest.mark.timeout(240)

DELAY = 0.3
SCENARIOS = ("without", "with", "offloaded")



@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(push, "PUSH_DELAY_SECONDS", DELAY)
    monkeypatch.setattr(push, "PUSH_POLL_SECONDS", 0.1)
    return {
        **run.PROFILES["quick"],
        "push_pairs": 3, "push_steps": [20], "push_step_seconds": 1, "push_idle_seconds": 0.5,
        "push_tail_margin": 0.3, "push_repeats": 1, "push_fixed_rate": 20, "push_profile_messages": 20,
        "stop_after_fail": 1, "push_pause_seconds": 0.2, "quiet": True,
        # small_batches is `with` under other settings: the instrument is the same.
        "push_scenarios": SCENARIOS,
    }  # fmt: skip


def test_every_message_is_pushed_once_and_the_report_renders(loadgen_ready: None, small: dict) -> None:
    run.raise_fd_limit()
    result = push.measure(small, "sqlite", log=lambda _: None)
    runs = result["runs"]
    for scenario in SCENARIOS:
        (r,) = runs[scenario]
        (step,) = r["steps"]
        assert step["sent"] == 20 and step["acked"] == 20 and step["ack_errors"] == {}
        assert step["ack_latency_ms"]["count"] == 20 and step["server_cpu_us_per_msg"] > 0
        assert step["wall_seconds"] >= 1 + DELAY  # the CPU window waits for the step's pushes
        assert r["pushes"]["stored"] == 20 and r["pushes"]["jobs_left"] == 0
    assert runs["without"][0]["subscriptions"] == 0 and runs["without"][0]["pushes"]["received"] == 0
    for scenario in ("with", "offloaded"):
        r = runs[scenario][0]
        totals, step_push = r["pushes"], r["steps"][0]["push"]
        assert r["subscriptions"] == 3
        assert totals["received"] == totals["unique"] == 20
        assert totals["duplicates"] == totals["missing"] == totals["undecryptable"] == totals["foreign"] == 0
        assert step_push == {**step_push, "stored": 20, "pushed": 20, "missing": 0, "over_deadline": 0}
        assert DELAY * 1000 <= step_push["latency_ms"]["p50"] <= push.PUSH_DEADLINE_SECONDS * 1000
    assert runs["with"][0]["push_process"] is None
    assert runs["offloaded"][0]["push_process"]["cpu_seconds"] > 0

    breakdown = result["breakdown"]
    assert breakdown["send"]["jobs_queued"] == 10 == breakdown["pushes_sent"] == breakdown["pushes_received"]
    assert set(breakdown["deliver_us_per_push"]) >= {"claim", "plan", "mark_pushed", "encrypt_and_headers",
                                                     "http_exchange", "record", "total"}  # fmt: skip
    assert "ncalls" in breakdown["profile_top_tottime"]

    comparison = result["comparison"]["scenarios"]
    assert set(comparison) == set(SCENARIOS) and comparison["without"]["capacity_ratio"] in (1.0, None)
    text = "\n".join(push_report.lines({"sqlite": result}))
    assert "## Push: the send path with every recipient offline (sqlite" in text
    assert "Where a push's CPU goes" in text
    # One target row per layout: a push worker beside the socket worker, and the socket worker delivering.
    rows = push_report.target_rows({"sqlite": result})
    assert [row["target"].rsplit(", ", 1)[1] for row in rows] == list(push_report.TARGET_LAYOUTS.values())
    assert all(row["goal"].startswith("within 10%") and row["met"] in (True, False) for row in rows)


def _device() -> tuple[push.Device, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return push.Device(key, secrets.token_bytes(16)), public


def _push(device: push.Device, public: bytes, path: str, at: float, payload: dict) -> Push:
    body = encrypt(orjson.dumps(payload), public, device.auth, salt=os.urandom(16))
    return Push(at, path, "c1", body)


def test_judge_counts_duplicates_strangers_and_garbage() -> None:
    device, public = _device()
    stored = {1: ("s0-0", 100.0), 2: ("s0-1", 100.0), 3: ("s1-0", 200.0)}
    received = [
        _push(device, public, "/push/a", 102.0, {"type": "message", "message_id": 1}),
        _push(device, public, "/push/a", 103.0, {"type": "message", "message_id": 1}),  # again: a duplicate
        _push(device, public, "/push/a", 208.0, {"type": "message", "message_id": 3}),  # past the 5 s promise
        _push(device, public, "/push/nobody", 102.0, {"type": "message", "message_id": 2}),  # no such subscription
        Push(102.0, "/push/a", "c1", b"\x00" * 120),  # does not decrypt
    ]
    verdict = push.judge([{"name": "s0"}, {"name": "s1"}], stored, received, {"/push/a": device})
    total = verdict["total"]
    assert total["received"] == 5 and total["unique"] == 2 and total["duplicates"] == 1
    assert total["foreign"] == 1 and total["undecryptable"] == 1 and total["missing"] == 1
    s0, s1 = verdict["steps"]["s0"], verdict["steps"]["s1"]
    assert s0 == {**s0, "stored": 2, "pushed": 1, "missing": 1, "over_deadline": 0}
    assert s0["latency_ms"]["p50"] == 2000.0  # the first arrival counts, not the duplicate
    assert s1 == {**s1, "stored": 1, "pushed": 1, "missing": 0, "over_deadline": 1}
