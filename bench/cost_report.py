"""Issue 16's rows in the Targets table and the cost step's section of the summary.

The cost step (bench/cost.py) gives capacity, CPU per message and RSS on the
issue's 2,000-socket workload against the Node peer; the rooms and scale-out
rows come from the group, dm and redis workloads of the same run. Every row's
met / not met is computed from the measured figures.
"""

from __future__ import annotations

from bench.cost import CAPACITY_DELIVERED_PCT, at_rate

ISSUE_SOCKETS = 2000
ISSUE_FIXED_RATE = 500
CPU_RATIO_MAX = 1.5
REGISTRATION_RSS_MAX = 1.2
ROOM_DELIVERIES_BEFORE = 14_844  # bench/results/full.md when issue 16 was filed
ROOM_DELIVERIES_TARGET = 2 * ROOM_DELIVERIES_BEFORE
CROSS_WORKER_CPU_MAX = 1.3


def _v(value: object, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def _ratio(a: float | None, b: float | None) -> float | None:
    """Unrounded: the bounds are judged on it, only the text rounds."""
    return a / b if a is not None and b else None


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def _row(target: str, goal: str, measured: str, met: bool | None) -> dict:
    return {"target": target, "goal": goal, "measured": measured, "met": met}


def cpu_us(line: dict | None) -> float | None:
    """CPU per message of the server side: the worker, plus PostgreSQL's backends when measured."""
    if line is None:
        return None
    total = line.get("total_cpu_us_per_msg")
    return total if total is not None else line.get("server_cpu_us_per_msg")


def _full_scale(run: dict, sockets: int) -> bool:
    """The issue's workload: 2,000 sockets, every one connected."""
    return sockets >= ISSUE_SOCKETS and run["head"]["connected"] == sockets


def _judged(met: bool | None, full: bool) -> bool | None:
    """A run below the issue's scale is reported, not judged."""
    return met if full else None


def target_rows(cost: dict) -> list[dict]:
    """Capacity, CPU per message and RSS per database, against the peer when it ran."""
    settings = cost["settings"]
    n, rate = settings["sockets"], settings["fixed_rate"]
    peer = cost.get("peer") or {}
    peer_ran = "rates" in peer
    peer_note = "" if peer_ran else f"; the peer was not run ({peer.get('not_run', 'no peer result')})"
    rows: list[dict] = []
    for db, run in cost["project"].items():
        full = _full_scale(run, n)
        scale = "" if full else f" (at {n:,} sockets, {run['head']['connected']:,} connected: not the issue's scale)"
        cap, first = run["capacity"], (run["rates"] or [None])[0]
        at_cap = at_rate(run["rates"], cap) if cap else first
        cap_text = (f"{cap:,} msg/s (p99 {_v(at_cap['p99_ms'])} ms, {_v(at_cap['delivered_pct'])} % delivered"
                    f" at {at_cap['rate_target']:,} msg/s)") if at_cap else "no rate measured"
        if peer_ran:
            cap_text += f" vs peer {peer['capacity']:,} msg/s = {_x(_ratio(cap, peer['capacity']))}"
        rows.append(_row(
            f"capacity at {ISSUE_SOCKETS:,} sockets, {db}, one worker (issue 16)",
            ">= the Node peer's (>= 99.9 % delivered, p99 <= 50 ms)", cap_text + scale + peer_note,
            _judged(cap >= peer["capacity"] if peer_ran else None, full)))

        mine, theirs = at_rate(run["rates"], rate), at_rate(peer.get("rates") or [], rate)
        if mine is None:
            why = "the sweep stopped before it" if rate in settings["rates"] else "not one of the rates run"
            cpu_text = f"{rate} msg/s not measured ({why})"
        else:
            cpu_text = f"{_v(cpu_us(mine))} µs"
            if mine.get("db_cpu_us_per_msg") is not None:
                cpu_text += (f" ({_v(mine['server_cpu_us_per_msg'])} worker + "
                             f"{_v(mine['db_cpu_us_per_msg'])} PostgreSQL)")
        ratio = _ratio(cpu_us(mine), cpu_us(theirs))
        if theirs is not None:
            cpu_text += f" vs peer {_v(cpu_us(theirs))} µs = {_x(ratio)}"
        elif peer_ran:
            cpu_text += f"; the peer's sweep has no {rate} msg/s"
        # lg2 divides by the messages sent: beyond capacity many were never delivered,
        # so the figure is not the cost of a delivered message and the target is not met.
        undelivered = mine is not None and (mine["delivered_pct"] or 0) < CAPACITY_DELIVERED_PCT
        if undelivered and mine is not None:
            cpu_text += (f"; beyond the project's capacity: {_v(mine['delivered_pct'])} % delivered "
                         "(CPU divided by messages sent)")
        rows.append(_row(
            f"server CPU per message at {rate} msg/s, {db} (issue 16)",
            f"<= {CPU_RATIO_MAX}x the Node peer's" + (" (PostgreSQL's backends counted)" if db == "postgres" else ""),
            cpu_text + scale + peer_note,
            _judged(False if undelivered else ratio <= CPU_RATIO_MAX if ratio is not None else None,
                    full and rate == ISSUE_FIXED_RATE)))

        ref = cost["no_registrations"].get(db) or {}
        rss, ref_rss = run["rss_after_connect_mb"], ref.get("rss_after_connect_mb")
        peer_rss = f"; peer {_v(peer.get('rss_after_connect_mb'))} MiB" if peer_ran else ""
        rows.append(_row(
            f"idle RSS with {ISSUE_SOCKETS:,} sockets, {db} (issue 16)",
            "reported (no bound of its own; the peer's beside it)",
            f"{_v(rss)} MiB after {n:,} registrations and connects, {_v(ref_rss)} MiB with the users written directly"
            + peer_rss + scale, None))

        growth = _ratio(rss, ref_rss)
        ref_connected = ref.get("connected", n)
        if ref_connected < n:
            scale += f" (the reference worker had {ref_connected:,} of {n:,} sockets connected)"
        rows.append(_row(
            f"RSS after {ISSUE_SOCKETS:,} registrations, {db} (issue 16)",
            f"within {REGISTRATION_RSS_MAX - 1:.0%} of a worker that had none (same sockets connected)",
            (f"{_v(rss)} MiB vs {_v(ref_rss)} MiB = {_x(growth)}" if growth is not None
             else f"no reference worker ({ref.get('not_run', 'not measured')})") + scale,
            _judged(growth <= REGISTRATION_RSS_MAX if growth is not None and ref_connected >= 0.99 * n else None,
                    full and run["registrations"] >= ISSUE_SOCKETS)))
    return rows


def workload_rows(w: dict) -> list[dict]:
    """Issue 16's rooms and scale-out targets, from the group, dm and redis workloads."""
    rows: list[dict] = []
    if "group" in w:
        g = w["group"]
        best = g.get("capacity_step")
        deliveries = best["deliveries_per_s"] if best else 0
        p99 = (best or {}).get("latency_ms", {}).get("p99")
        p99 = round(p99, 2) if p99 is not None else None
        rows.append(_row(
            f"{g.get('members', 100)}-member room (issue 16)",
            f">= {ROOM_DELIVERIES_TARGET:,} deliveries/s (2 x {ROOM_DELIVERIES_BEFORE:,}) at p99 <= 50 ms",
            f"{deliveries:,} deliveries/s ({g['capacity']} msg/s, p99 {_v(p99)} ms)",
            deliveries >= ROOM_DELIVERIES_TARGET))
    if "redis" in w and "dm" in w:
        rows.append(_cross_worker_row(w["dm"], w["redis"]))
    return rows


def _cross_worker_row(dm: dict, redis: dict) -> dict:
    """CPU per message, two workers with every message crossing against one worker,
    at the highest rate both sustained (the lowest common rate when they share none)."""
    single = {s["target_rate"]: s for s in dm["steps"] if s["name"] != "quarter"}
    cross = {s["target_rate"]: s for s in redis["steps"] if s["name"] != "quarter"}
    common = sorted(set(single) & set(cross))
    passing = [r for r in common if single[r]["passes"] and cross[r]["passes"]]
    goal = f"<= {CROSS_WORKER_CPU_MAX}x the single worker's CPU per message at the same rate"
    target = "scale-out: cross-worker CPU per message (issue 16)"
    if not common:
        return _row(target, goal, "no rate run by both the dm and redis workloads", None)
    rate = passing[-1] if passing else common[0]
    a, b = cross[rate]["server_cpu_us_per_msg"], single[rate]["server_cpu_us_per_msg"]
    ratio = _ratio(a, b)
    note = "" if passing else " (neither workload passed at a common rate: the lowest one)"
    return _row(target, goal,
                f"at {rate:,} msg/s: {_v(a)} µs (two workers + Redis, both workers' CPU, Redis's own not counted) "
                f"vs {_v(b)} µs one worker = {_x(ratio)}" + note,
                ratio <= CROSS_WORKER_CPU_MAX if ratio is not None and passing else None)


def lines(cost: dict) -> list[str]:
    """The step's section: settings, one table per server, the ratios."""
    s = cost["settings"]
    out = [
        "",
        f"## Cost on issue 16's workload ({s['sockets']:,} sockets, {s['sockets'] // 2:,} direct pairs, one worker)",
        "",
        f"The shared generator `{s['generator']}` (as `../shared/peers/compare.sh`): each send from a random user to "
        f"its pair, open loop, warm-up {s['warm_seconds']} s, hold {s['hold_seconds']} s, drain {s['drain_seconds']} s "
        f"per rate; capacity = highest rate with >= {s['capacity']['delivered_pct']} % delivered and p99 <= "
        f"{s['capacity']['p99_ms']:g} ms. " + ("Server on CPU 0, generator on CPU 1 (taskset). " if s["pinned"] else
                                                 "Not pinned (taskset missing or one CPU). ")
        + "The project's users are registered through the REST API (Argon2); the peer's are seeded. On PostgreSQL "
        "the CPU of the backends serving the scratch database is sampled from pg_stat_activity and /proc and added.",
    ]
    servers = [(f"project, {db}", run) for db, run in cost["project"].items()]
    peer = cost.get("peer") or {}
    if "rates" in peer:
        servers.append(("Node peer (socket.io + better-sqlite3)", peer))
    for title, run in servers:
        head = run["head"]
        stopped = f" {run['stopped'].capitalize()}." if run["stopped"] else ""
        out += ["", f"### {title}", "",
                f"Setup {head['setup_s']} s, {head['connected']:,} connected in {head['connect_s']} s "
                f"({head['failed']} failed); RSS after connect {_v(run['rss_after_connect_mb'])} MiB. "
                f"Capacity: **{run['capacity']:,} msg/s**.{stopped}",
                "", "| offered msg/s | sent | delivered % | p50 | p99 | max (ms) | worker µs/msg | PostgreSQL µs/msg | "
                "total µs/msg | server CPU % | gen CPU % | RSS MiB | ack errors |", "|" + "---|" * 13]
        for r in run["rates"]:
            out.append(f"| {r['rate_target']} | {r['sent']} | {r['delivered_pct']} | {r['p50_ms']} | {r['p99_ms']} | "
                       f"{r['max_ms']} | {_v(r['server_cpu_us_per_msg'])} | {_v(r.get('db_cpu_us_per_msg'))} | "
                       f"{_v(cpu_us(r))} | {r['server_cpu_pct']} | {r['gen_cpu_pct']} | {r['server_rss_mb']} | "
                       f"{r['ack_errors'] or ''} |")
    for db, ref in cost["no_registrations"].items():
        if "not_run" in ref:
            out += ["", f"Reference worker ({db}, no registrations): not run, {ref['not_run']}."]
        else:
            out += ["", f"Reference worker ({db}, {ref['sockets']:,} users written directly, none registered): RSS "
                        f"{ref['rss_at_start_mb']} MiB at start, {ref['rss_after_connect_mb']} MiB with "
                        f"{ref['connected']:,} sockets connected."]
    if "rates" not in peer:
        out += ["", f"The Node peer was not run: {peer.get('not_run', 'no result')}."]
    else:
        out += ["", "Project / peer:", ""]
        for db, run in cost["project"].items():
            cap = _ratio(run["capacity"], peer["capacity"])
            per_rate = []
            for r in run["rates"]:
                ratio = _ratio(cpu_us(r), cpu_us(at_rate(peer["rates"], r["rate_target"])))
                if ratio is not None:
                    per_rate.append(f"{r['rate_target']} msg/s {_x(ratio)}")
            out.append(f"- {db}: capacity {run['capacity']:,} / {peer['capacity']:,} = {_x(cap)}; CPU per message "
                       + (", ".join(per_rate) or "no common rate"))
    return out
