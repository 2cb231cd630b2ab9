"""The benchmark's generator against a real server: a correctness check of
the measuring instrument (every message sent is acknowledged and delivered,
the report is well-formed), with no timing assertions. Performance figures
live in `make bench`, not in tests."""

from __future__ import annotations

import pytest

from bench import dataset, run

pytestmark = pytest.mark.timeout(180)



def test_generator_delivers_everything_at_a_low_rate(loadgen_ready: None) -> None:
    run.raise_fd_limit()
    with run.scratch_db("sqlite") as url:
        ds = dataset.build(url, dm_pairs=3)
        with run.servers(url) as (srv,):
            plan = run.message_plan(ds, steps=[20], seconds=2, quarter=0, stop_after_fail=1)
            report = run.run_loadgen({"url": srv.url, "serverPids": [srv.process.pid], "quiet": True, **plan},
                                     timeout=60)

    assert report["connect"]["connected"] == 6 and report["connect"]["failed"] == 0
    (step,) = report["steps"]
    assert step["sent"] == 40
    assert step["acked"] == step["sent"] and step["ack_errors"] == {}
    assert step["expected_deliveries"] == step["sent"]
    assert step["delivered"] == step["sent"] and step["delivered_pct"] == 100
    for key in ("p50", "p90", "p99", "p999", "max"):
        assert step["latency_ms"][key] is not None and step["latency_ms"][key] >= 0
    assert step["latency_ms"]["count"] == step["sent"]
    assert step["server_cpu_us_per_msg"] > 0 and step["generator_cpu_pct"] >= 0
    assert report["unexpected_messages"] == 0
    assert report["generator"]["wall_seconds"] >= 0
