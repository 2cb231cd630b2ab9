"""The push step's part of the Markdown summary (bench/report.py calls it)."""

from __future__ import annotations

from bench.push import net_us_per_msg

LABELS = {
    "without": "without push",
    "with": "with push (the worker delivers)",
    "small_batches": "with push, batches of 10 every 0.05 s",
    "offloaded": "with push, delivered by `chat push-worker`",
}


def _v(value: object, unit: str = "") -> str:
    return "n/a" if value is None else f"{value}{unit}"


def _pct(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.0%}"


# Issue 13's target, per database and per layout: the production one (a `chat
# push-worker` beside socket workers started with CHAT_PUSH_WORKER=0) and the
# embedded default's (the one process delivers too).
TARGET_LAYOUTS = {"offloaded": "socket worker + chat push-worker", "with": "the socket worker delivers"}


def target_rows(push: dict) -> list[dict]:
    """Issue 13's target per database and layout: push on within 10% of push off."""
    rows = []
    for db, w in push.items():
        for scenario, layout in TARGET_LAYOUTS.items():
            row = _target_row(db, w, scenario, layout)
            if row is not None:
                rows.append(row)
    return rows


def _target_row(db: str, w: dict, scenario: str, layout: str) -> dict | None:
    c = w["comparison"]["scenarios"]
    base, on = c["without"], c.get(scenario)
    if on is None:
        return None
    fixed, rate = on.get("fixed") or {}, w["comparison"]["fixed_rate"]
    base_fixed = (base.get("fixed") or {}).get("net_us")
    return {
        "target": f"send capacity with push, every recipient offline, {db}, {layout}",
        "goal": "within 10% of the same without push (issue 13)",
        "measured": f"{_v(on['capacity'])} vs {_v(base['capacity'])} msg/s = {_pct(on['capacity_ratio'])} "
        f"(runs {on['capacities']} vs {base['capacities']}); worker CPU per message at {rate} msg/s "
        f"{_v(fixed.get('net_us'))} vs {_v(base_fixed)} µs (x{_v(fixed.get('ratio_net'))})",
        "met": on["within_10_percent"],
    }


def lines(push: dict) -> list[str]:
    out: list[str] = []
    for db, w in push.items():
        out += _summary(db, w)
        out += _steps(w)
        out += _totals(w)
        if w.get("breakdown"):
            out += _breakdown(w["breakdown"])
    return out


def _summary(db: str, w: dict) -> list[str]:
    comparison, s = w["comparison"], w["settings"]
    c, rate = comparison["scenarios"], comparison["fixed_rate"]
    names = list(c)
    row = lambda label, cells: f"| {label} | " + " | ".join(cells) + " |"  # noqa: E731
    out = [
        "",
        f"## Push: the send path with every recipient offline ({db}, one socket worker, eventlet)",
        "",
        "Only senders connect; each sends to its own offline partner. *without*: no push subscriptions (the send's "
        "outbox `INSERT ... SELECT` still runs and finds no device); *with*: each recipient has one Web Push "
        "subscription to a local sink, so every message queues one job and one encrypted, signed push "
        f"(delay {s['delay_seconds']} s, poll {s['poll_seconds']} s, batches of {s['batch_size']}); *offloaded*: as "
        "*with*, but the socket worker runs no push loop (`CHAT_PUSH_WORKER=0`) and a `chat push-worker` process "
        "on the same database delivers (at nice 10, its default); *small_batches*: as *with*, the loop polling every 0.05 s for batches of 10. "
        "Capacity: the highest offered rate with >= 99.99% acked and **ack** p99 <= 50 ms "
        "(open loop, from the scheduled send time). CPU is the socket worker's, over each step plus the tail in which "
        "its pushes go out; *net* takes out the idle baseline over the same window. Push latency: the message's "
        "`created_at` (in the send transaction) to the push's arrival at the sink.",
        "",
        "| | " + " | ".join(LABELS[n] for n in names) + " |",
        "|---|" + "---|" * len(names),
        row("send capacity, median of runs (msg/s)", [f"{_v(c[n]['capacity'])} {c[n]['capacities']}" for n in names]),
        row("against without push", [f"**{_pct(c[n]['capacity_ratio'])}**" for n in names]),
        row(
            f"capacity with every push within {s['deadline_seconds']:g} s (msg/s)",
            [_v(c[n]["capacity_pushes_on_time"]) if n != "without" else "" for n in names],
        ),
        row(
            f"worker CPU per message at {rate} msg/s, raw (µs)",
            [_v((c[n]["fixed"] or {}).get("raw_us")) for n in names],
        ),
        row("same, net of idle (µs)", [_v((c[n]["fixed"] or {}).get("net_us")) for n in names]),
        row(
            "net CPU against without push (capacity it implies)",
            [f"x{_v((c[n]['fixed'] or {}).get('ratio_net'))} ({_pct(c[n]['cpu_capacity_ratio'])})" for n in names],
        ),
        row(
            "second process's CPU per push (µs)",
            [_v(c[n]["push_process_us_per_push"]) if n == "offloaded" else "" for n in names],
        ),
        "",
        "The socket worker's net CPU per message at every rate (median of runs; x = against without push):",
        "",
        "| msg/s | " + " | ".join(f"{n} (µs)" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    rates = [r["rate"] for r in c["without"]["cpu_per_rate"]]
    for i, r in enumerate(rates):
        cells = []
        for n in names:
            cell = c[n]["cpu_per_rate"][i] if i < len(c[n]["cpu_per_rate"]) else {}
            ratio = f" (x{cell['ratio_net']})" if n != "without" and cell.get("ratio_net") else ""
            cells.append(f"{_v(cell.get('net_us'))}{ratio}")
        out.append(row(str(r), cells))
    return out


def _steps(w: dict) -> list[str]:
    out = [
        "",
        "Every step of every run (✗: failed the capacity criterion; *rq wait*: the worker's time waiting for a "
        "CPU, *pressure*: time some task on the machine waited, both against the step's wall time; *again*: the "
        "step failed while the worker waited > 10% of its time for a CPU, so it ran once more and that one counts):",
        "",
        "| run | msg/s | sent | acked % | ack p50 | ack p99 (ms) | worker CPU % | rq wait % | pressure % | µs/msg | "
        "net µs/msg | pushes stored / received / missing / > 5 s | push p50 | p99 | max (ms) | gen CPU % | errors |",
        "|" + "---|" * 17,
    ]
    for scenario, runs in w["runs"].items():
        for n, r in enumerate(runs, 1):
            for step in r["steps"]:
                ack, push = step["ack_latency_ms"], step.get("push") or {}
                lat = push.get("latency_ms") or {}
                shown = bool(r["subscriptions"])
                pushes = (
                    f"{push['stored']} / {push['pushed']} / {push['missing']} / {push['over_deadline']}"
                    if shown
                    else ""
                )
                cells = [
                    f"{scenario} {n}" + (" (again)" if step.get("attempt") else ""),
                    step["target_rate"],
                    step["sent"],
                    step["acked_pct"],
                    ack["p50"],
                    f"{ack['p99']}{'' if step['passes'] else ' ✗'}",
                    step["server_cpu_pct"],
                    _v(step.get("server_runqueue_wait_pct")),
                    _v(step.get("cpu_pressure_pct")),
                    step["server_cpu_us_per_msg"],
                    _v(net_us_per_msg(step, r["idle"])),
                    pushes,
                    _v(lat.get("p50")) if shown else "",
                    _v(lat.get("p99")) if shown else "",
                    _v(lat.get("max")) if shown else "",
                    step["generator_cpu_pct"],
                    step["ack_errors"] or "",
                ]
                out.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return out


def _totals(w: dict) -> list[str]:
    out = [
        "",
        "Pushes over each whole run (each recipient has one device: one job per stored message; PostgreSQL "
        "also counts the rows inserted into `push_jobs` itself, `pg_stat_user_tables.n_tup_ins`):",
        "",
        "| run | CPU pressure before | idle worker CPU % | messages stored | jobs inserted | pushes received | "
        "unique | duplicates | missing | undecryptable | jobs left | sink connections | sink CPU s |",
        "|" + "---|" * 13,
    ]
    for scenario, runs in w["runs"].items():
        for n, r in enumerate(runs, 1):
            t, quiet = r["pushes"], r.get("quiet_before") or {}
            cells = [
                f"{scenario} {n}",
                f"{_v(quiet.get('cpu_pressure_avg10'), '%')} (waited {quiet.get('waited_seconds')} s)",
                _v((r["idle"] or {}).get("server_cpu_pct")),
                t["stored"],
                _v(t["jobs_inserted"]),
                t["received"],
                t["unique"],
                t["duplicates"],
                _v(t["missing"]),
                t["undecryptable"],
                t["jobs_left"],
                t["sink_connections"],
                r["sink_cpu_seconds"],
            ]
            out.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return out


def _breakdown(b: dict) -> list[str]:
    send, d = b["send"], b["deliver_us_per_push"]
    phases = ", ".join(f"{name} {us}" for name, us in d.items() if name != "total")
    return [
        "",
        f"### Where a push's CPU goes ({b['db']}, in process, bench/push_profile.py)",
        "",
        f"- Send (`messaging.send_message`, {b['messages_per_kind']} each, alternating): recipient without a device "
        f"{send['without']['mean_us']} µs mean ({send['without']['median_us']} median), with one "
        f"{send['with']['mean_us']} µs ({send['with']['median_us']}); of which the outbox `INSERT ... SELECT` "
        f"{send['enqueue_without_us']} µs without a device, {send['enqueue_with_us']} µs with one.",
        f"- Delivery, per push ({b['timed_pushes']} pushes timed by phase, batches of {b['batch_size']}): "
        f"**{d['total']} µs** = {phases} µs.",
        f"- Jobs queued {send['jobs_queued']}, delivered {b['jobs_delivered']}, pushes sent {b['pushes_sent']}, "
        f"received by the sink {b['pushes_received']}.",
        "",
        f"cProfile of the other {b['profiled_pushes']} pushes' delivery, by own time:",
        "",
        "```",
        b["profile_top_tottime"],
        "```",
    ]
