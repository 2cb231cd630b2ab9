"""The cost step (issue 16): capacity and CPU per message on the issue's workload, against the Node peer.

Issue 16's workload, measured the way ``../shared/peers/compare.sh`` measures it
and with its generator (``../shared/peers/loadgen/lg2.js``): C sockets = C users
(2,000 in the full profile), pairs (2k, 2k+1) share a direct conversation, each
send goes from a random user to its pair, open loop, warm-up 2 s, hold, drain
3 s per rate. Server on CPU 0, generator on CPU 1 (when there are two).

- The project (one worker, ``python wsgi.py``, eventlet, bench/run.py's
  SERVER_ENV) on SQLite and on a scratch PostgreSQL database; its users come
  through the REST API (``--setup=rest``: real Argon2 registrations). On
  PostgreSQL the CPU of the backends serving the scratch database is sampled
  here (``pg_stat_activity`` + ``/proc``) and added: the pool opens and closes
  overflow connections under load, so a pid list fixed before the run (lg2's
  ``--xpids``) would miss some backends and lose the figure when one exits.
- A reference worker on the same database kind whose 2,000 users were written
  straight into the database (no registration), the same sockets connected
  (bench/loadgen): the RSS that 2,000 registrations add is the difference.
- The Node peer (``node-peer/server.js``, started exactly as compare.sh starts
  it, seeded through its ``/bench/seed`` endpoint), once, when Node and its
  modules are there; the report divides the project's figures by the peer's.

Capacity = highest rate with >= 99.9 % delivered and p99 <= 50 ms (no failing
rate below it). After the first failing rate one more runs, then the sweep stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from bench import dataset
from chatapp.ops.processes import ROOT, find_binary, free_port, spawn, stop, wait_healthy

PEERS = ROOT.parent / "shared" / "peers"
LG2 = PEERS / "loadgen" / "lg2.js"
PEER_SERVER = PEERS / "node-peer" / "server.js"
NODE_PARTS = ("node-peer", "loadgen")
CAPACITY_DELIVERED_PCT = 99.9
CAPACITY_P99_MS = 50.0
WARM_SECONDS, DRAIN_SECONDS = 2, 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Log = Callable[[str], None]


def peers_cache() -> Path:
    """Where compare.sh keeps the peers' Node modules (outside both repositories)."""
    if os.environ.get("PEERS_CACHE"):
        return Path(os.environ["PEERS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chat-peers"


def unavailable() -> str | None:
    """Why the step cannot run here, or None: it needs the shared peers folder and Node."""
    if not LG2.exists() or not PEER_SERVER.exists():
        return f"the shared peers folder ({PEERS}) with loadgen/lg2.js and node-peer/server.js is not here"
    if find_binary("node") is None:
        return "Node.js is not installed (the shared generator lg2.js is a Node program)"
    return None


def install_node_modules(part: str) -> None:
    """compare.sh's way: the part's lockfile copied into the cache, ``npm ci`` when it changed."""
    cache = peers_cache() / part
    cache.mkdir(parents=True, exist_ok=True)
    lock = PEERS / part / "package-lock.json"
    cached_lock = cache / "package-lock.json"
    if cached_lock.exists() and cached_lock.read_bytes() == lock.read_bytes() and (cache / "node_modules").exists():
        return
    npm = find_binary("npm")
    if npm is None:
        raise RuntimeError(f"npm is not installed: cannot install {part}'s modules into {cache}")
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PEERS / part / name, cache / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=cache, check=True, timeout=300)


def pinned() -> bool:
    """compare.sh pins when taskset is there and the machine has two CPUs or more."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pin_process(pid: int, cpu: int) -> None:
    """Every thread of ``pid`` onto ``cpu``; threads started later inherit it."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), {cpu})


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of ``pid`` in clock ticks (None when it has exited)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


class BackendCpu:
    """The CPU of the PostgreSQL backends serving one database, sampled every
    ``interval`` s into a cumulative series. A backend that exits keeps its last
    reading (its last ``interval`` at most is lost); one that appears is counted
    from its first reading."""

    def __init__(self, admin_url: str, database: str, interval: float = 0.2) -> None:
        self.admin_url, self.database, self.interval = admin_url, database, interval
        self.last: dict[int, int] = {}
        self.series: list[tuple[float, int]] = []
        self.pids_seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-backend-cpu", daemon=True)

    def __enter__(self) -> BackendCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.admin_url)
        conn.autocommit = True
        cur = conn.cursor()
        try:
            while not self._stop.is_set():
                cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                            (self.database,))
                for (pid,) in cur.fetchall():
                    ticks = cpu_ticks(pid)
                    if ticks is not None:
                        self.last[pid] = ticks
                        self.pids_seen.add(pid)
                self.series.append((time.time(), sum(self.last.values())))
                self._stop.wait(self.interval)
        finally:
            conn.close()

    def at(self, when: float) -> float | None:
        """Cumulative CPU seconds at ``when`` (epoch), interpolated between samples."""
        series = list(self.series)
        if not series or when < series[0][0] or when > series[-1][0]:
            return None
        for (t0, c0), (t1, c1) in zip(series, series[1:], strict=False):
            if t0 <= when <= t1:
                share = (when - t0) / (t1 - t0) if t1 > t0 else 1.0
                return (c0 + (c1 - c0) * share) / CLOCK_TICKS
        return series[-1][1] / CLOCK_TICKS


def _window_end(line: dict) -> float:
    """lg2 stamps a rate's line just after reading the server's CPU at the end of its drain."""
    return datetime.fromisoformat(line["ts"].replace("Z", "+00:00")).timestamp()


def sweep(label: str, base: str, pid: int, setup: str, p: dict, backends: BackendCpu | None = None,
          log: Log = print) -> dict:
    """One lg2 run against the server at ``base``: setup, connect, then p["cost_rates"]
    in order, stopping one rate after the first that fails the capacity criteria."""
    rates = p["cost_rates"]
    cmd = [*(["taskset", "-c", "1"] if pinned() else []), "node", str(LG2), "--proto=sio", f"--base={base}",
           f"--setup={setup}", f"--c={p['cost_sockets']}", f"--rates={','.join(map(str, rates))}",
           f"--hold={p['cost_hold']}", f"--warm={WARM_SECONDS}", f"--drain={DRAIN_SECONDS}", f"--pids={pid}",
           f"--label={label}", f"--cap-p99={CAPACITY_P99_MS:g}", f"--cap-delivered={CAPACITY_DELIVERED_PCT:g}"]
    env = {**os.environ, "NODE_PATH": str(peers_cache() / "loadgen" / "node_modules")}
    # Registrations run 16 at a time at ~30/s; every rate is warm + hold + drain + 1 s.
    timeout = 120 + p["cost_sockets"] / 10 + len(rates) * (WARM_SECONDS + p["cost_hold"] + DRAIN_SECONDS + 2)
    lines: list[dict] = []
    stopped = None
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                if not raw.startswith("{"):
                    continue
                line = json.loads(raw)
                _add_backend_cpu(line, backends)
                lines.append(line)
                log(f"cost/{label}: {line['rate_target']} msg/s: delivered {line['delivered_pct']} %, "
                    f"p99 {line['p99_ms']} ms, {line['server_cpu_us_per_msg']} us/msg")
                failed = [i for i, r in enumerate(lines) if not r["capacity_ok"]]
                if failed and len(lines) - failed[0] >= 2:
                    stopped = f"stopped one rate after the first failing one ({lines[failed[0]]['rate_target']} msg/s)"
                    break
        finally:
            killer.cancel()
            if proc.poll() is None and stopped:
                proc.terminate()  # lg2 is one process, in a session of its own
            try:
                code = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(10)
        err.seek(0)
        stderr = err.read()
    head = next((json.loads(s) for s in stderr.splitlines() if s.startswith("{")), None)
    if head is None or (code != 0 and not stopped):
        raise RuntimeError(f"lg2 ({label}) exited {code}: {stderr[-2000:]}")
    if "saturated at" in stderr and not stopped:
        stopped = "lg2 stopped the sweep itself (delivered < 95 % or p99 > 2 s)"
    return {"label": label, "setup": setup, "head": head, "rates": lines, "stopped": stopped,
            "capacity": capacity(lines), "rss_after_connect_mb": head.get("rss_after_connect_mb")}


def _add_backend_cpu(line: dict, backends: BackendCpu | None) -> None:
    """The database's CPU over lg2's own server window for this rate (hold + drain)."""
    if backends is None:
        return
    end = _window_end(line)
    start = end - line["hold_s"] - line["drain_s"]
    deadline = time.monotonic() + 10 * backends.interval
    while backends.series and backends.series[-1][0] < end and time.monotonic() < deadline:
        time.sleep(backends.interval / 4)  # the sample after the window's end
    c0, c1 = backends.at(start), backends.at(end)
    ok = c0 is not None and c1 is not None and line["sent"]
    line["db_cpu_us_per_msg"] = round(1e6 * (c1 - c0) / line["sent"]) if ok else None  # type: ignore[operator]
    line["db_backends_seen"] = len(backends.pids_seen)
    server = line.get("server_cpu_us_per_msg")
    line["total_cpu_us_per_msg"] = server + line["db_cpu_us_per_msg"] if ok and server is not None else None


def capacity(lines: list[dict]) -> int:
    """Highest rate passing the criteria with no failing rate below it (summarize.py's rule)."""
    best = 0
    for line in sorted(lines, key=lambda r: r["rate_target"]):
        if not line["capacity_ok"]:
            break
        best = line["rate_target"]
    return best


def at_rate(lines: list[dict], rate: int) -> dict | None:
    return next((r for r in lines if r["rate_target"] == rate), None)


# ------------------------------------------------------------------ the three servers


def project(db: str, p: dict, log: Log) -> dict:
    """The project's worker, its users registered through the REST API by lg2."""
    from bench import run
    from tests.support.services import PG_ADMIN_URL

    with run.scratch_db(db) as url, run.servers(url) as (srv,):
        assert srv.process is not None
        pid = srv.process.pid
        if pinned():
            pin_process(pid, 0)
        rss_start = rss_mb(pid)
        log(f"cost/{db}: {p['cost_sockets']:,} registrations, sockets, rates {p['cost_rates']}")
        with contextlib.ExitStack() as stack:
            backends = None
            if db == "postgres":
                backends = stack.enter_context(BackendCpu(PG_ADMIN_URL, url.rsplit("/", 1)[1]))
            out = sweep(f"project-{db}", srv.url, pid, "rest", p, backends, log=log)
    out["rss_at_start_mb"] = rss_start
    out["registrations"] = p["cost_sockets"]  # lg2 exits on any registration that fails
    return out


def reference(db: str, p: dict, log: Log) -> dict:
    """A worker whose users were written into the database, none registered: the same
    sockets connected (bench/loadgen), its RSS is the baseline for the registrations'."""
    from bench import run

    if not (run.LOADGEN.parent / "node_modules" / "ws").exists():
        return {"not_run": "bench/loadgen has no node_modules (make bench-deps)"}
    n = p["cost_sockets"]
    with run.scratch_db(db) as url:
        ds = dataset.build(url, idle_users=n)
        with run.servers(url) as (srv,):
            assert srv.process is not None
            log(f"cost/{db}: reference worker, {n:,} users without registration")
            report = run.run_loadgen({"url": srv.url, "serverPids": [srv.process.pid], "quiet": True,
                                      "sockets": [{"token": ds.tokens[uid]} for uid in ds.idle_users],
                                      "holdSeconds": 0, "connectConcurrency": 200, "settleSeconds": 3}, timeout=300)
    c = report["connect"]
    return {"sockets": c["sockets"], "connected": c["connected"],
            "rss_at_start_mb": round(c["server_rss_before_bytes"] / 2**20, 1),
            "rss_after_connect_mb": round(c["server_rss_after_bytes"] / 2**20, 1)}


@contextlib.contextmanager
def peer_server() -> Iterator[tuple[str, int]]:
    """node-peer/server.js as compare.sh starts it: from its cache folder, BENCH_SEED=1,
    its own SQLite file, pinned to CPU 0. Yields (base URL, pid)."""
    cache = peers_cache() / "node-peer"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="chat-peer-") as work:
        env = {**os.environ, "PORT": str(port), "BENCH_SEED": "1", "DB": f"{work}/peer.db",
               "NODE_PATH": str(cache / "node_modules")}
        proc = spawn([*(["taskset", "-c", "0"] if pinned() else []), "node", str(PEER_SERVER)], env=env, cwd=cache,
                     log_path=Path(work) / "peer.log")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base, 60, proc, log_tail=(Path(work) / "peer.log").read_text(errors="replace"))
            yield base, proc.pid
        finally:
            stop(proc, timeout=3)


def peer(p: dict, log: Log) -> dict:
    install_node_modules("node-peer")
    with peer_server() as (base, pid):
        log(f"cost/peer: {p['cost_sockets']:,} seeded users, rates {p['cost_rates']}")
        return sweep("node-peer", base, pid, "seed", p, log=log)


def measure(p: dict, dbs: list[str], log: Log = print) -> dict:
    """The whole step: the project per database (and its reference), then the peer."""
    install_node_modules("loadgen")
    result: dict = {
        "settings": {"sockets": p["cost_sockets"], "rates": p["cost_rates"], "hold_seconds": p["cost_hold"],
                     "warm_seconds": WARM_SECONDS, "drain_seconds": DRAIN_SECONDS, "fixed_rate": p["cost_fixed_rate"],
                     "pinned": pinned(), "generator": "../shared/peers/loadgen/lg2.js",
                     "capacity": {"delivered_pct": CAPACITY_DELIVERED_PCT, "p99_ms": CAPACITY_P99_MS}},
        "project": {}, "no_registrations": {},
    }
    for db in dbs:
        result["project"][db] = project(db, p, log)
        result["no_registrations"][db] = reference(db, p, log)
    try:
        result["peer"] = peer(p, log)
    except Exception as exc:  # the project's figures stand without the peer's
        log(f"cost/peer not run: {exc!r}")
        result["peer"] = {"not_run": f"failed: {exc!r}"}
    return result
