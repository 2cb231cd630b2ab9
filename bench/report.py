"""Markdown summary and latency/throughput plot of one benchmark result."""

from __future__ import annotations

from pathlib import Path


def _lat(step: dict | None, key: str = "p99") -> float | None:
    return None if not step else (step.get("latency_ms") or {}).get(key)


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        value = round(value, 2)
    return f"{value}{unit}"


def targets(result: dict) -> list[dict]:
    """Each target (issues 7, 13, 15, 16) with the measured figure and met / not met."""
    w = result["workloads"]
    rows: list[dict] = []

    def add(name: str, target: str, measured: str, met: bool | None) -> None:
        rows.append({"target": name, "goal": target, "measured": measured, "met": met})

    if "idle" in w:
        c = w["idle"]["connect"]
        add("idle sockets on one worker", ">= 10,000 connected", f"{c['connected']:,} of {c['sockets']:,}",
            c["connected"] >= 10_000)
        add("memory per socket", "<= 40 KiB (issues 7, 16)", _fmt(c["rss_per_connection_kib"], " KiB"),
            c["rss_per_connection_kib"] is not None and c["rss_per_connection_kib"] <= 40)
        add("connect rate", ">= 1,000 /s (issues 7, 16)", f"{c['rate_per_s']:,} /s", c["rate_per_s"] >= 1000)
    if "dm" in w:
        dm = w["dm"]
        add("DM capacity (persisted, acked)", ">= 2,000 msg/s at p99 <= 50 ms",
            f"{dm['capacity']:,} msg/s (p99 {_fmt(_lat(dm.get('capacity_step')))} ms)", dm["capacity"] >= 2000)
        q = dm.get("quarter")
        if q:
            add("DM at 25% of capacity", "p50 <= 3 ms, p99 <= 15 ms",
                f"{q['target_rate']} msg/s: p50 {_fmt(_lat(q, 'p50'))} ms, p99 {_fmt(_lat(q))} ms",
                (_lat(q, "p50") or 1e9) <= 3 and (_lat(q) or 1e9) <= 15)
    if "group" in w:
        g = w["group"]
        best = g.get("capacity_step")
        deliveries = best["deliveries_per_s"] if best else 0
        add(f"{g.get('members', 100)}-member room", ">= 15,000 deliveries/s at p99 <= 50 ms",
            f"{deliveries:,} deliveries/s ({g['capacity']} msg/s, p99 {_fmt(_lat(best))} ms)", deliveries >= 15_000)
    for db, h in (w.get("history") or {}).items():
        steps = h["history"]["steps"]
        # The lowest offered rate: the page latency itself, not a saturated server's queue.
        low = min(steps, key=lambda s: s["target_rate"]) if steps else None
        p99 = low["latency_ms"]["p99"] if low else None
        failed = (low["requests"] - low["ok"]) if low else 0
        add(f"history page, {db}", "p99 <= 2 ms at 10M messages (issue 16)",
            f"p99 {_fmt(p99)} ms over HTTP at {low['target_rate'] if low else 0} req/s, {h['messages']:,} messages "
            f"(SQL query alone p99 {h['query_only']['p99_ms']} ms), {failed} failed",
            p99 is not None and p99 <= 2 and h["messages"] >= 10_000_000 and failed == 0)
    for db, c in (w.get("catchup") or {}).items():
        add(f"catch-up, {db}", "cost grows with what changed, not with history (issue 10)",
            f"{c['changes']:,} changes at {c['messages']:,} messages: whole catch-up p50 {c['catch_up']['p50_ms']} ms, "
            f"p99 {c['catch_up']['p99_ms']} ms over HTTP ({c['catch_up']['pages']} pages); up-to-date sync of "
            f"{c['conversations']} conversations p50 {c['up_to_date_sync']['p50_ms']} ms",
            None)
    if w.get("push"):
        from bench import push_report

        rows.extend(push_report.target_rows(w["push"]))
    if w.get("search"):
        from bench import search_report

        rows.extend(search_report.target_rows(w["search"]))
    from bench import cost_report

    if w.get("cost"):
        rows.extend(cost_report.target_rows(w["cost"]))
    rows.extend(cost_report.workload_rows(w))
    if "redis" in w and "dm" in w:
        r, single = w["redis"], w["dm"]["capacity"]
        ratio = r["capacity"] / single if single else 0
        # Every acknowledged message delivered live, in every step, overload included;
        # sends refused above capacity (``unavailable``, retried by clients) are counted apart.
        lowest = min((_acked_delivered(s) for s in r["steps"]), default=None)
        shed = sum(s["ack_errors"].get("unavailable", 0) for s in r["steps"])
        add("two workers + Redis", ">= 70% of single-worker capacity, 100% delivered",
            f"{r['capacity']:,} msg/s = {ratio:.0%} of {single:,}; acknowledged messages delivered live: lowest "
            f"{_fmt(lowest, '%')} over all steps ({shed:,} sends refused as unavailable above capacity)",
            ratio >= 0.7 and lowest is not None and lowest >= 100)
    return rows


def _acked_delivered(step: dict) -> float | None:
    """% of the acknowledged messages that reached every recipient (older reports: of all sent)."""
    return step.get("acked_delivered_pct", step["delivered_pct"])


def write_summary(result: dict, md_path: Path, png_path: Path) -> None:
    w = result["workloads"]
    lines = [
        f"# Benchmark: profile `{result['profile']}`",
        "",
        f"- Command: `{result['command']}` ({result['date']}, {result['total_seconds']} s)",
        f"- Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"{result['machine']['memory_gib']} GiB, Linux {result['machine']['kernel']}; generator on the same machine",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        "- Capacity = highest offered rate with >= 99.99% delivered and p99 <= 50 ms (open loop; latency from the "
        "scheduled send time to `message:new` at the recipient, measured in the generator).",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for row in targets(result):
        met = {True: "yes", False: "**no**", None: "n/a"}[row["met"]]
        lines.append(f"| {row['target']} | {row['goal']} | {row['measured']} | {met} |")
    if result.get("skipped"):
        lines += ["", "Skipped or failed: " + "; ".join(f"{k}: {v}" for k, v in result["skipped"].items())]

    def sweep_table(title: str, rep: dict, unit: str = "msg/s") -> None:
        lines.extend(["", f"## {title}", "",
                      f"| offered {unit} | sent | delivered % | acked delivered % | deliveries/s | p50 | p90 | p99 | p99.9 | "
                      "max (ms) | ack p99 | server CPU % | µs/msg | gen CPU % | errors |",
                      "|" + "---|" * 15])
        for s in rep["steps"]:  # the 25%-of-capacity step is the last one when it ran
            lat = s["latency_ms"]
            label = f"{s['target_rate']}" + (" (25%)" if s["name"] == "quarter" else "")
            lines.append(
                f"| {label} | {s['sent']} | {s['delivered_pct']} | {_acked_delivered(s)} | {s['deliveries_per_s']} | "
                f"{lat['p50']} | "
                f"{lat['p90']} | {lat['p99']} | {lat['p999']} | {lat['max']} | {s['ack_latency_ms']['p99']} | "
                f"{s['server_cpu_pct']} | {s['server_cpu_us_per_msg']} | {s['generator_cpu_pct']} | "
                f"{s['ack_errors'] or ''} |")
        lines.append(f"\nCapacity: **{rep['capacity']} {unit}**.")

    if "idle" in w:
        c = w["idle"]["connect"]
        lines += ["", "## Idle capacity (one worker, eventlet)", "",
                  f"{c['connected']:,}/{c['sockets']:,} authenticated sockets in {c['seconds']} s "
                  f"({c['rate_per_s']:,}/s, connect p99 {c['connect_latency_ms']['p99']} ms); server RSS "
                  f"{c['server_rss_before_bytes'] / 2**20:.0f} -> {c['server_rss_after_bytes'] / 2**20:.0f} MiB = "
                  f"{c['rss_per_connection_kib']} KiB per socket; {c['server_cpu_us_per_connect']} µs CPU per connect; "
                  f"errors {c['errors'] or 'none'}."]
        if w["idle"].get("hold"):
            lines.append(f"Held {w['idle']['hold']['seconds']} s: {w['idle']['hold']['disconnects']} disconnects.")
    if "dm" in w:
        sweep_table("Direct messages (one worker, eventlet, SQLite)", w["dm"])
    if "group" in w:
        sweep_table(f"{w['group'].get('members', 100)}-member room (messages/s; deliveries = x{w['group'].get('members', 100) - 1})",
                    w["group"])
    if "redis" in w:
        sweep_table("Two workers + Redis queue, every message crossing workers", w["redis"])
    for mode, rep in (w.get("modes") or {}).items():
        sweep_table(f"Async mode {mode} (direct messages)", rep)
    for db, h in (w.get("history") or {}).items():
        lines += ["", f"## History pages ({db}, {h['messages']:,} messages, before-cursor, 50 rows)", "",
                  f"Bulk load: {h['load_seconds']} s. Query alone (in-process): p50 {h['query_only']['p50_ms']} ms, "
                  f"p99 {h['query_only']['p99_ms']} ms; plan: `{h['query_only']['plan']}`.", "",
                  "| req/s | requests | ok | errors | p50 | p90 | p99 | p99.9 | max (ms) | server µs/req |", "|" + "---|" * 10]
        for s in h["history"]["steps"]:
            lat = s["latency_ms"]
            lines.append(f"| {s['target_rate']} | {s['requests']} | {s['ok']} | {s['errors']} | {lat['p50']} | {lat['p90']} | "
                         f"{lat['p99']} | {lat['p999']} | {lat['max']} | {s['server_cpu_us_per_request']} |")
    if w.get("push"):
        from bench import push_report

        lines += push_report.lines(w["push"])
    if w.get("search"):
        from bench import search_report

        lines += search_report.lines(w["search"])
    if w.get("cost"):
        from bench import cost_report

        lines += cost_report.lines(w["cost"])
    if plot(result, png_path):
        lines += ["", f"![latency against throughput]({png_path.name})"]
    md_path.write_text("\n".join([*lines, ""]))


def plot(result: dict, png_path: Path) -> bool:
    """The p99 latency against throughput of the sweeps; False when there is
    nothing to draw (or no matplotlib), so the summary links no missing image."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pip install -r bench/requirements.txt
        return False
    w = result["workloads"]
    series = []
    if "dm" in w:
        series.append(("DM, 1 worker (msg/s)", w["dm"]["steps"], "achieved_send_rate"))
    if "redis" in w:
        series.append(("DM, 2 workers + Redis (msg/s)", w["redis"]["steps"], "achieved_send_rate"))
    for mode, rep in (w.get("modes") or {}).items():
        series.append((f"DM, {mode} (msg/s)", rep["steps"], "achieved_send_rate"))
    if "group" in w:
        series.append(("100-member room (deliveries/s)", w["group"]["steps"], "deliveries_per_s"))
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for label, steps, key in series:
        steps = [s for s in steps if s["name"] != "quarter"]  # the sweep only, in rate order
        xs = [s[key] for s in steps if s["latency_ms"]["p99"] is not None]
        ys = [s["latency_ms"]["p99"] for s in steps if s["latency_ms"]["p99"] is not None]
        ax.plot(xs, ys, marker="o", label=f"{label} p99")
    ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="p99 target 50 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("throughput (per second)")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title(f"Latency against throughput ({result['profile']}, {result['machine']['cores']} cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return True
