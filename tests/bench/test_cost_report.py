"""Issue 16's rows of the Targets table (bench/cost_report.py), judged from the
figures they are given: each met / not met follows the issue's bound, a run below
the issue's scale or without the peer is reported and not judged, and the
capacity rule is compare.sh's (no failing rate below the capacity)."""

from __future__ import annotations

from bench import cost, cost_report


def _rate(rate: int, ok: bool = True, server_us: float = 1000, db_us: float | None = None) -> dict:
    line = {"rate_target": rate, "capacity_ok": ok, "sent": rate * 10, "delivered_pct": 100 if ok else 90,
            "p50_ms": 2, "p99_ms": 10 if ok else 900, "max_ms": 20 if ok else 1500, "server_cpu_us_per_msg": server_us,
            "server_cpu_pct": 50, "gen_cpu_pct": 20, "server_rss_mb": 200, "ack_errors": {}}
    if db_us is not None:
        line.update(db_cpu_us_per_msg=db_us, total_cpu_us_per_msg=server_us + db_us)
    return line


def _sweep(rates: list[dict], rss: float, sockets: int = 2000) -> dict:
    head = {"connected": sockets, "failed": 0, "setup_s": 55.0, "connect_s": 4.0}
    return {"head": head, "rates": rates, "capacity": cost.capacity(rates), "stopped": None,
            "rss_after_connect_mb": rss, "registrations": sockets}


def _result(project: dict, peer: dict | None, reference_rss: float = 200, sockets: int = 2000) -> dict:
    settings = {"sockets": sockets, "rates": [250, 500, 1000], "fixed_rate": 500, "hold_seconds": 10,
                "warm_seconds": 2, "drain_seconds": 3, "pinned": True, "generator": "../shared/peers/loadgen/lg2.js",
                "capacity": {"delivered_pct": 99.9, "p99_ms": 50}}
    reference = {"sockets": sockets, "connected": sockets, "rss_at_start_mb": 110,
                 "rss_after_connect_mb": reference_rss}
    return {"settings": settings,
            "project": project, "no_registrations": {db: reference for db in project},
            "peer": peer if peer is not None else {"not_run": "Node.js is not installed"}}


def _met(rows: list[dict]) -> dict[str, bool | None]:
    return {r["target"].split(",")[0]: r["met"] for r in rows}


def test_capacity_is_the_highest_rate_below_which_none_failed() -> None:
    assert cost.capacity([_rate(250), _rate(500), _rate(1000, ok=False), _rate(2000)]) == 500
    assert cost.capacity([_rate(250, ok=False), _rate(500)]) == 0


def test_a_project_as_good_as_the_peer_meets_every_target() -> None:
    peer = _sweep([_rate(250, server_us=400), _rate(500, server_us=400), _rate(1000, ok=False)], rss=110)
    project = _sweep([_rate(250), _rate(500, server_us=600), _rate(1000, ok=False)], rss=240)
    rows = cost_report.target_rows(_result({"sqlite": project}, peer, reference_rss=200))

    assert _met(rows) == {"capacity at 2": True, "server CPU per message at 500 msg/s": True,
                          "idle RSS with 2": None, "RSS after 2": True}
    assert "600 µs vs peer 400 µs = 1.50x" in rows[1]["measured"]
    assert "240 MiB vs 200 MiB = 1.20x" in rows[3]["measured"]


def test_each_bound_is_missed_on_its_own_figure() -> None:
    peer = _sweep([_rate(250, server_us=400), _rate(500, server_us=400), _rate(1000)], rss=110)
    project = _sweep([_rate(250), _rate(500, server_us=601), _rate(1000, ok=False)], rss=241)
    rows = cost_report.target_rows(_result({"sqlite": project}, peer, reference_rss=200))

    assert _met(rows) == {"capacity at 2": False, "server CPU per message at 500 msg/s": False,
                          "idle RSS with 2": None, "RSS after 2": False}


def test_on_postgresql_the_database_cpu_counts_against_the_peer() -> None:
    peer = _sweep([_rate(250, server_us=400), _rate(500, server_us=400)], rss=110)
    project = _sweep([_rate(250), _rate(500, server_us=500, db_us=200)], rss=200)
    rows = cost_report.target_rows(_result({"postgres": project}, peer))

    assert rows[1]["met"] is False
    assert "700 µs (500 worker + 200 PostgreSQL) vs peer 400 µs = 1.75x" in rows[1]["measured"]


def test_without_the_peer_the_project_is_reported_and_the_peer_ratios_not_judged() -> None:
    project = _sweep([_rate(250), _rate(500)], rss=200)
    rows = cost_report.target_rows(_result({"sqlite": project}, None))

    assert _met(rows) == {"capacity at 2": None, "server CPU per message at 500 msg/s": None,
                          "idle RSS with 2": None, "RSS after 2": True}
    assert all("the peer was not run (Node.js is not installed)" in r["measured"] for r in rows[:2])
    section = "\n".join(cost_report.lines(_result({"sqlite": project}, None)))
    assert "The Node peer was not run: Node.js is not installed." in section


def test_below_the_issue_scale_nothing_is_judged() -> None:
    peer = _sweep([_rate(250), _rate(500)], rss=60, sockets=200)
    project = _sweep([_rate(250), _rate(500)], rss=120, sockets=200)
    rows = cost_report.target_rows(_result({"sqlite": project}, peer, sockets=200))

    assert all(r["met"] is None for r in rows)


def _step(rate: int, us: float, passes: bool = True) -> dict:
    return {"name": f"s{rate}", "target_rate": rate, "server_cpu_us_per_msg": us, "passes": passes}


def test_rooms_and_scale_out_rows_come_from_the_group_dm_and_redis_workloads() -> None:
    workloads = {
        "group": {"members": 100, "capacity": 300,
                  "capacity_step": {"deliveries_per_s": 29_700, "latency_ms": {"p99": 31.0}}},
        "dm": {"steps": [_step(500, 1000), _step(700, 1000), _step(1000, 900, passes=False)]},
        "redis": {"steps": [_step(500, 1200), _step(700, 1400), _step(1000, 1100, passes=False)]},
    }
    room, scale_out = cost_report.workload_rows(workloads)

    assert room["met"] is True and "29,700 deliveries/s" in room["measured"]
    # The highest rate both sustained: 700 msg/s, 1,400 / 1,000 = 1.4x > 1.3x.
    assert scale_out["met"] is False and "at 700 msg/s" in scale_out["measured"] and "1.40x" in scale_out["measured"]


def test_a_cpu_figure_from_a_rate_beyond_capacity_does_not_meet_the_target() -> None:
    peer = _sweep([_rate(250, server_us=400), _rate(500, server_us=400)], rss=110)
    saturated = _rate(500, ok=False, server_us=500) | {"delivered_pct": 25.8}
    project = _sweep([_rate(250), saturated], rss=200)
    (row,) = [r for r in cost_report.target_rows(_result({"sqlite": project}, peer)) if "CPU" in r["target"]]

    assert row["met"] is False  # 1.25x on paper, but per message sent, most of them never delivered
    assert "beyond the project's capacity: 25.8 % delivered" in row["measured"]
