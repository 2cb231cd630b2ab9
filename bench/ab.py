"""Paired A/B: two servers measured at the same moment, so the machine's drift cancels.

This machine's speed drifts by 10-35% between runs of a few minutes (other
tenants, frequency), more than most levers are worth: two separate runs of the
same code differed by 25% (issue 16's sessions). Here both variants run at once,
each on a scratch database of its own with the same dataset (direct pairs, or a
room: ``--workload room``), each driven by its own generator at the same rate,
for several rounds; a round's two figures share
whatever the machine did in those seconds. The report gives each round's server
CPU per message and the paired ratio B/A per round, with their median.

A variant is environment variables (``--a``/``--b``, e.g. ``CHAT_SEND_GROUP_MAX=1``)
and, for B, optionally another git revision (``--b-rev``, run from a temporary
worktree; its migrations must be this tree's, the dataset is built once per
schema). ``--swap`` runs a second sitting with the servers started in the other
order, to show any bias of the arrangement itself; an A/A sitting (no ``--b``)
shows the harness's own noise (1-2% on this machine).

    .venv/bin/python -m bench.ab --b CHAT_SEND_GROUP_MAX=1 --rounds 5
    .venv/bin/python -m bench.ab --b-rev HEAD~1 --db postgres --swap
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import dataset, run
from chatapp.ops.processes import ROOT, ServerProcess


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``NAME=value`` arguments as a mapping; anything else is refused."""
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"not NAME=value: {pair!r}")
        env[name] = value
    return env


@contextlib.contextmanager
def revision_tree(rev: str | None) -> Iterator[Path]:
    """This tree, or a temporary worktree of ``rev`` with the same migrations."""
    if rev is None:
        yield ROOT
        return
    same_schema = subprocess.run(["git", "diff", "--quiet", rev, "--", "migrations"], cwd=ROOT)
    if same_schema.returncode != 0:
        raise SystemExit(f"{rev} has other migrations than this tree: compare it with its own dataset")
    folder = Path(tempfile.mkdtemp(prefix="chat-ab-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), rev], cwd=ROOT, check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)


def sitting(args: argparse.Namespace, first: tuple[str, dict[str, str], Path],
            second: tuple[str, dict[str, str], Path]) -> dict[str, list[dict[str, Any]]]:
    """Both variants at once, ``first`` started first; each variant's steps (one per round)."""
    steps: dict[str, list[dict[str, Any]]] = {}
    with run.scratch_db(args.db) as url_1, run.scratch_db(args.db) as url_2:
        shape = {"group_size": args.members} if args.workload == "room" else {"dm_pairs": args.pairs}
        sets = [dataset.build(url, **shape) for url in (url_1, url_2)]
        servers = [ServerProcess(url, extra_env={**run.SERVER_ENV, **env}, root=tree)
                   for url, (_, env, tree) in zip((url_1, url_2), (first, second), strict=True)]
        try:
            for server in servers:
                server.start(timeout=60)

            def drive(name: str, server: ServerProcess, ds: dataset.Dataset) -> None:
                plan = load_plan(args, ds)
                report = run.run_loadgen({"url": server.url, "serverPids": [server.process.pid], **plan},
                                         timeout=args.rounds * args.seconds * 3 + 120)
                steps[name] = report["steps"]

            threads = [threading.Thread(target=drive, args=(name, server, ds))
                       for (name, _, _), server, ds in zip((first, second), servers, sets, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if len(steps) != 2:
                raise RuntimeError("a generator failed: see its output above")
        finally:
            for server in servers:
                server.stop()
    return steps


def load_plan(args: argparse.Namespace, ds: dataset.Dataset) -> dict[str, Any]:
    """The generator's sockets and sends: ``make bench``'s dm step, or its group step's room."""
    steps = [args.rate] * args.rounds
    if args.workload == "dm":
        return run.message_plan(ds, steps, args.seconds, 0, args.rounds + 1)
    return run.room_plan(ds, steps, args.seconds, args.rounds + 1)


def summary(steps: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    a, b = steps["A"], steps["B"]
    ratios = [round(y["server_cpu_us_per_msg"] / x["server_cpu_us_per_msg"], 3)
              for x, y in zip(a, b, strict=True) if x["server_cpu_us_per_msg"]]
    return {
        "A_us_per_msg": [s["server_cpu_us_per_msg"] for s in a],
        "B_us_per_msg": [s["server_cpu_us_per_msg"] for s in b],
        "A_p99_ms": [s["latency_ms"]["p99"] for s in a],
        "B_p99_ms": [s["latency_ms"]["p99"] for s in b],
        "A_delivered_pct": [s["delivered_pct"] for s in a],
        "B_delivered_pct": [s["delivered_pct"] for s in b],
        "A_deliveries_per_s": [s["deliveries_per_s"] for s in a],
        "B_deliveries_per_s": [s["deliveries_per_s"] for s in b],
        "ratio_B_over_A": ratios,
        "median_ratio": statistics.median(ratios) if ratios else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", nargs="*", default=[], help="A's environment, NAME=value ...")
    parser.add_argument("--b", nargs="*", default=[], help="B's environment, NAME=value ...")
    parser.add_argument("--b-rev", help="run B from this git revision (same migrations)")
    parser.add_argument("--workload", choices=["dm", "room"], default="dm",
                        help="direct pairs, or one room whose every member receives each message")
    parser.add_argument("--members", type=int, default=100, help="the room's members (--workload room)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pairs", type=int, default=500, help="direct pairs per server (2 sockets each)")
    parser.add_argument("--rate", type=int, default=250, help="messages/s offered to each server")
    parser.add_argument("--seconds", type=int, default=10, help="length of a round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--swap", action="store_true", help="a second sitting, B started first")
    parser.add_argument("--out", type=Path, help="write the report here as JSON")
    args = parser.parse_args(argv)
    run.raise_fd_limit()
    env_a, env_b = parse_env(args.a), parse_env(args.b)
    report: dict[str, Any] = {"a": {"env": env_a}, "b": {"env": env_b, "rev": args.b_rev},
                              "workload": args.workload, "db": args.db, "rate": args.rate,
                              **({"members": args.members} if args.workload == "room" else {"pairs": args.pairs}),
                              "seconds": args.seconds, "rounds": args.rounds, "sittings": []}
    with revision_tree(args.b_rev) as tree_b:
        variant_a, variant_b = ("A", env_a, ROOT), ("B", env_b, tree_b)
        orders = [(variant_a, variant_b)] + ([(variant_b, variant_a)] if args.swap else [])
        for first, second in orders:
            result = summary(sitting(args, first, second))
            result["started_first"] = first[0]
            report["sittings"].append(result)
            print(json.dumps(result))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
