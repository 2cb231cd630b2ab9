"""The bounded soak (issue 5): `make soak` (10 min) or `SOAK_SECONDS=60 make soak`.

Two real worker processes (``python wsgi.py``, eventlet) share a scratch
PostgreSQL database and the machine's Redis under a scratch key prefix. 500
authenticated sockets (users and tokens bulk-inserted as bench/dataset.py
does; Argon2 is neither used nor weakened) form 250 direct-message pairs whose
two ends sit on different workers, so every message crosses workers through
Redis. The Node generator bench/loadgen/soak.js sends at a steady open-loop
rate (default 50 msg/s, each pair alternating direction), records every
acknowledgement and every live ``message:new``, samples each worker's RSS and
CPU every 10 s, and finishes with a ``sync`` by cursors on every socket.

Then the database is the judge: every stored message of every conversation is
read back from PostgreSQL and compared with what the generator saw.

- lost = acknowledged but not stored (by id and client_id), plus stored but
  seen by its recipient neither live nor through the final sync;
- duplicates after dedupe = a logical send (conversation, sender, client_id)
  that exists under more than one message id, in the database or in a
  recipient's deduplicated view; raw duplicates = the same id delivered live
  twice to one socket.

Writes bench/results/soak.json and soak.md. Exit status 1 when anything was
lost or duplicated.

    .venv/bin/python -m bench.soak [--seconds 600] [--sockets 500] [--rate 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench import dataset, run
from tests.support.services import scratch_redis_prefix

ROOT = Path(__file__).resolve().parents[1]

SOAK_JS = ROOT / "bench" / "loadgen" / "soak.js"
MIB = 2**20


def log(msg: str) -> None:
    print(f"[soak] {msg}", file=sys.stderr, flush=True)


def plan(ds: dataset.Dataset, urls: list[str]) -> tuple[list[dict], list[dict]]:
    """One socket per user; the two ends of each pair on different workers."""
    sockets, pairs = [], []
    for a, b, cid in ds.direct_pairs:
        ia, ib = len(sockets), len(sockets) + 1
        sockets.append({"token": ds.tokens[a], "user_id": a, "url": urls[0], "conversations": [cid]})
        sockets.append({"token": ds.tokens[b], "user_id": b, "url": urls[1], "conversations": [cid]})
        pairs.append({"a": ia, "b": ib, "conversation_id": cid})
    return sockets, pairs


def run_generator(config: dict, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="chat-soak-") as tmp:
        cfg_path, out_path = Path(tmp) / "config.json", Path(tmp) / "report.json"
        cfg_path.write_text(json.dumps(config))
        proc = subprocess.run(["node", str(SOAK_JS), str(cfg_path), str(out_path)], timeout=timeout)
        if not out_path.exists():
            raise RuntimeError(f"soak generator exited {proc.returncode} without a report")
        return json.loads(out_path.read_text())


def stored_messages(url: str) -> tuple[list[tuple], dict[int, int]]:
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT id, conversation_id, seq, sender_id, client_id, deleted FROM messages ORDER BY conversation_id, seq"
        )
        rows = cur.fetchall()
        cur.execute("SELECT id, last_seq FROM conversations")
        last_seq = dict(cur.fetchall())
    finally:
        conn.close()
    return rows, last_seq


def compare(gen: dict, rows: list[tuple], last_seq: dict[int, int], conversations: set[int]) -> dict:
    """Everything the generator saw, judged against the database."""
    # client_id -> [cid, conv, sender, recipient, acked_id, seq, attempts, err, mismatch]
    sends = {s[0]: s for s in gen["sends"]}
    by_id = {r[0]: r for r in rows}
    live = {s["user_id"]: dict(s["live"]) for s in gen["sockets"]}  # user -> {message id: times}
    synced = {s["user_id"]: set(s["synced"]) for s in gen["sockets"]}

    acked = [s for s in sends.values() if s[4] is not None]
    acked_not_stored = [s[0] for s in acked if s[4] not in by_id or by_id[s[4]][4] != s[0] or by_id[s[4]][1] != s[1]]
    foreign = [r[0] for r in rows if r[4] not in sends]
    copies = Counter((r[1], r[3], r[4]) for r in rows)
    db_duplicates = sum(n - 1 for n in copies.values() if n > 1)

    delivered_live = recovered_by_sync = 0
    undelivered: list[int] = []
    stored_not_acked = 0
    view: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))  # recipient -> client_id -> ids
    for mid, _conv, _seq, _sender, client_id, _deleted in rows:
        send = sends.get(client_id)
        if send is None:
            continue
        if send[4] != mid:
            stored_not_acked += 1
        recipient = send[3]
        if mid in live.get(recipient, {}):
            delivered_live += 1
            view[recipient][client_id].add(mid)
        elif mid in synced.get(recipient, set()):
            recovered_by_sync += 1
            view[recipient][client_id].add(mid)
        else:
            undelivered.append(mid)
    view_duplicates = sum(len(ids) - 1 for per in view.values() for ids in per.values() if len(ids) > 1)
    raw_duplicates = sum(times - 1 for per in live.values() for times in per.values() if times > 1)

    seq_gaps = 0
    seqs: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        seqs[r[1]].append(r[2])
    for conv in conversations:
        got = seqs.get(conv, [])
        if got != list(range(1, len(got) + 1)) or last_seq.get(conv, 0) != len(got):
            seq_gaps += 1
    lost = len(acked_not_stored) + len(undelivered)
    return {
        "sent": len(sends),
        "acknowledged": len(acked),
        "refused": sum(1 for s in sends.values() if s[7] is not None),
        "unanswered": sum(1 for s in sends.values() if s[4] is None and s[7] is None),
        "stored": len(rows),
        "stored_not_acknowledged": stored_not_acked,
        "delivered_live": delivered_live,
        "recovered_by_final_sync": recovered_by_sync,
        "lost": lost,
        "lost_acknowledged_not_stored": len(acked_not_stored),
        "lost_stored_never_delivered": len(undelivered),
        "duplicates_after_dedupe": db_duplicates + view_duplicates,
        "duplicates_stored": db_duplicates,
        "duplicates_in_client_view": view_duplicates,
        "raw_duplicates_live": raw_duplicates,
        "resend_answered_with_other_id": sum(1 for s in sends.values() if s[8] is not None),
        "foreign_rows": len(foreign),
        "conversations_with_seq_gaps": seq_gaps,
        "examples": {"acknowledged_not_stored": acked_not_stored[:10], "never_delivered_ids": undelivered[:10]},
    }


def memory_and_cpu(gen: dict) -> dict:
    """RSS drift per worker (last window average minus first window average)
    and CPU over the run; the window is a minute, or a third of a short run."""
    samples = gen["samples"]
    end = samples[-1]["t"]
    window = min(60.0, max(end / 3, 1.0))
    workers = []
    for k in range(len(samples[0]["rss_bytes"])):
        series = [(s["t"], s["rss_bytes"][k]) for s in samples if s["rss_bytes"][k] is not None]
        first = [b for t, b in series if t <= window]
        last = [b for t, b in series if t >= end - window]
        first_avg = sum(first) / len(first) / MIB if first else None
        last_avg = sum(last) / len(last) / MIB if last else None
        drift = None if first_avg is None or last_avg is None else last_avg - first_avg
        cpu = samples[-1]["cpu_seconds"][k]
        workers.append(
            {
                "worker": k,
                "rss_first_window_mib": round(first_avg, 1) if first_avg else None,
                "rss_last_window_mib": round(last_avg, 1) if last_avg else None,
                "rss_drift_mib": round(drift, 1) if drift is not None else None,
                "rss_drift_pct": round(100 * drift / first_avg, 1) if drift is not None and first_avg else None,
                "rss_min_mib": round(min(b for _, b in series) / MIB, 1) if series else None,
                "rss_max_mib": round(max(b for _, b in series) / MIB, 1) if series else None,
                "cpu_seconds": cpu,
                "cpu_pct": round(100 * cpu / end, 1) if cpu is not None and end else None,
            }
        )
    total_cpu = sum(w["cpu_seconds"] or 0 for w in workers)
    sent = samples[-1]["sent"] or 1
    return {
        "window_seconds": round(window, 1),
        "workers": workers,
        "server_cpu_pct_total": round(100 * total_cpu / end, 1) if end else None,
        "server_cpu_us_per_message": round(total_cpu * 1e6 / sent),
    }


def soak(
    seconds: float,
    sockets: int = 500,
    rate: float = 50,
    sample_seconds: float = 10,
    quiet: bool = False,
    drain_seconds: float = 30,
    ignore_live_every: int = 0,
) -> dict:
    """``ignore_live_every`` (tests only): the generator treats every Nth live
    delivery as missed, so the final sync has something to recover."""
    run.raise_fd_limit()
    pairs_wanted = sockets // 2
    with run.scratch_db("postgres") as url:
        ds = dataset.build(url, dm_pairs=pairs_wanted)
        with scratch_redis_prefix() as prefix, run.servers(url, count=2, redis_prefix=prefix) as procs:
            sock_specs, pairs = plan(ds, [procs[0].url, procs[1].url])
            config = {
                "sockets": sock_specs,
                "pairs": pairs,
                "rate": rate,
                "seconds": seconds,
                "serverPids": [p.process.pid for p in procs],
                "sampleSeconds": sample_seconds,
                "drainSeconds": drain_seconds,
                "clientPrefix": f"soak-{int(time.time())}-",
                "pad": "x" * 30,
                "clockTicks": os.sysconf("SC_CLK_TCK"),
                "quiet": quiet,
                "connectConcurrency": 50,
                "maxSeconds": int(seconds + drain_seconds + 300),
                "ignoreLiveEvery": ignore_live_every,
            }
            log(f"{len(sock_specs)} sockets on 2 workers, {rate} msg/s for {seconds} s")
            gen = run_generator(config, timeout=seconds + drain_seconds + 360)
            alive = [p.process.poll() is None for p in procs]
        rows, last_seq = stored_messages(url)
    verdict = compare(gen, rows, last_seq, {cid for _, _, cid in ds.direct_pairs})
    return {
        "params": {
            "seconds": seconds,
            "sockets": len(sock_specs),
            "pairs": len(pairs),
            "workers": 2,
            "rate_msg_per_s": rate,
            "sample_seconds": sample_seconds,
            "drain_seconds": drain_seconds,
            "async_mode": "eventlet",
            "database": "postgresql (scratch)",
            "message_queue": "redis (scratch prefix)",
            "server_env": run.SERVER_ENV,
        },
        "delivery": verdict,
        "connect": gen["connect"],
        "workers_alive_at_end": alive,
        "counters": gen["counters"],
        "final_sync": gen["final_sync"],
        "timing": {
            "send_seconds": gen["send_seconds"],
            "drain_seconds": gen["drain_seconds"],
            "wall_seconds": gen["wall_seconds"],
            "achieved_rate": round(verdict["sent"] / gen["send_seconds"], 1),
        },
        "latency_ms": gen["latency_ms"],
        "ack_latency_ms": gen["ack_latency_ms"],
        "latency_per_minute": gen["latency_per_minute"],
        "resources": memory_and_cpu(gen),
        "samples": gen["samples"],
        "generator": gen["generator"],
    }


def ok(result: dict) -> bool:
    d = result["delivery"]
    return (
        d["lost"] == 0
        and d["duplicates_after_dedupe"] == 0
        and d["foreign_rows"] == 0
        and d["conversations_with_seq_gaps"] == 0
    )


def write_markdown(result: dict, path: Path) -> None:
    d, p, r = result["delivery"], result["params"], result["resources"]
    lat, ack = result["latency_ms"], result["ack_latency_ms"]
    lines = [
        "# Soak: two workers, PostgreSQL, Redis",
        "",
        f"- Command: `{result['command']}` ({result['date']}, {result['total_seconds']} s in all)",
        f"- Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"{result['machine']['memory_gib']} GiB, Linux {result['machine']['kernel']}; "
        "generator and databases on the same machine",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        f"- Server code: commit {result['server_code']['commit']}"
        + (
            f", with uncommitted changes in {', '.join(result['server_code']['uncommitted_server_files'])}"
            if result["server_code"]["uncommitted_server_files"]
            else ""
        ),
        f"- Load: {p['sockets']} authenticated sockets ({p['pairs']} direct pairs, the two ends of every pair on "
        f"different workers), {p['rate_msg_per_s']} msg/s open loop for {p['seconds']} s (achieved "
        f"{result['timing']['achieved_rate']} msg/s), eventlet, scratch PostgreSQL database, scratch Redis prefix.",
        f"- Verdict: **{'PASS' if result['passed'] else 'FAIL'}** (0 lost and 0 duplicates after dedupe required).",
        "",
        "## Delivery, judged against the database",
        "",
        "| sent | acknowledged | refused | stored | delivered live | recovered by final sync | **lost** | "
        "**duplicates after dedupe** | raw duplicates (live) | seq gaps |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {d['sent']:,} | {d['acknowledged']:,} | {d['refused']} | {d['stored']:,} | {d['delivered_live']:,} | "
        f"{d['recovered_by_final_sync']} | **{d['lost']}** | **{d['duplicates_after_dedupe']}** | "
        f"{d['raw_duplicates_live']} | {d['conversations_with_seq_gaps']} |",
        "",
        f"Lost = acknowledged but not stored ({d['lost_acknowledged_not_stored']}) + stored but seen by the recipient "
        f"neither live nor through the final `sync` ({d['lost_stored_never_delivered']}). Stored but never "
        f"acknowledged: {d['stored_not_acknowledged']}. "
        f"Disconnects during the run: {result['counters']['disconnects']}, "
        f"resends: {result['counters']['resends']}, ack errors: {result['counters']['ackErrors'] or 'none'}; "
        f"final sync took {result['final_sync']['seconds']} s.",
        "",
        "## Latency (ms, from the scheduled send time to `message:new` at the recipient on the other worker)",
        "",
        "| minute | messages | p50 | p90 | p99 | p99.9 | max | ack p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in result["latency_per_minute"]:
        x = m["delivery_ms"]
        lines.append(
            f"| {m['minute'] + 1} | {x['count']:,} | {x['p50']} | {x['p90']} | {x['p99']} | {x['p999']} | "
            f"{x['max']} | {m['ack_ms']['p99']} |"
        )
    lines.append(
        f"| **all** | {lat['count']:,} | {lat['p50']} | {lat['p90']} | {lat['p99']} | {lat['p999']} | "
        f"{lat['max']} | {ack['p99']} |"
    )
    lines += [
        "",
        f"## Memory and CPU (RSS sampled every {p['sample_seconds']} s; drift = last {r['window_seconds']} s average "
        f"minus first {r['window_seconds']} s average)",
        "",
        "| worker | RSS first window (MiB) | RSS last window (MiB) | drift (MiB) | drift % | min–max (MiB) "
        "| CPU s | CPU % of a core |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in r["workers"]:
        lines.append(
            f"| {w['worker']} | {w['rss_first_window_mib']} | {w['rss_last_window_mib']} | {w['rss_drift_mib']} | "
            f"{w['rss_drift_pct']} | {w['rss_min_mib']}–{w['rss_max_mib']} | {w['cpu_seconds']} | {w['cpu_pct']} |"
        )
    lines += [
        "",
        f"Server CPU in all: {r['server_cpu_pct_total']}% of one core, {r['server_cpu_us_per_message']} µs per message "
        f"(both workers). Generator CPU {result['generator']['cpu_pct']}% of one core.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS") or 600))
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50, help="messages per second, in all")
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--name", default="soak", help="result file stem")
    parser.add_argument("--out", default=str(run.RESULTS))
    args = parser.parse_args(argv)
    started = time.monotonic()
    env = run.environment(argv)
    env["command"] = (
        " ".join(["python -m bench.soak", *argv]) if argv else f"python -m bench.soak --seconds {args.seconds:g}"
    )
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "chatapp", "config.py", "wsgi.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.split()[1::2]
    env["server_code"] = {"commit": git, "uncommitted_server_files": dirty}
    result = {**env, **soak(args.seconds, args.sockets, args.rate, args.sample_seconds)}
    result["passed"] = ok(result)
    result["total_seconds"] = round(time.monotonic() - started)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1))
    write_markdown(result, out / f"{args.name}.md")
    d = result["delivery"]
    log(
        f"sent {d['sent']} acked {d['acknowledged']} live {d['delivered_live']} synced {d['recovered_by_final_sync']} "
        f"lost {d['lost']} duplicates {d['duplicates_after_dedupe']} (raw {d['raw_duplicates_live']}); "
        f"p99 {result['latency_ms']['p99']} ms; wrote {out / args.name}.json and .md"
    )
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
