#!/usr/bin/env python3
"""``make cluster``: N worker processes behind HAProxy, sharing Redis and PostgreSQL.

The cluster itself (workers, HAProxy, the nginx renderer) is chatapp/ops/cluster.py,
which the end-to-end tests start too; this script finds the machine's services
(or starts a private redis-server), migrates, and keeps the cluster running in
the foreground until Ctrl-C, restarting a worker that dies.

    python deploy/cluster.py [--workers N] [--port P] [--async-mode MODE]
    python deploy/cluster.py --print-nginx-conf > deploy/nginx.conf
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from chatapp.ops import processes
from chatapp.ops.cluster import PRODUCTION_NGINX, ROOT, Cluster, render_nginx_config
from chatapp.ops.processes import Process, find_binary, free_port

# ---------------------------------------------------------------- make cluster


def _postgres_database(url: str) -> str | None:
    """Create the cluster's database on the machine's PostgreSQL if missing;
    None when no PostgreSQL answers."""
    try:
        import psycopg2
        from psycopg2 import sql
    except ImportError:
        return None
    base, name = url.rsplit("/", 1)
    name = name.split("?", 1)[0]
    try:
        admin = psycopg2.connect(base + "/postgres", connect_timeout=2)
    except psycopg2.OperationalError:
        return None
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"cluster: created database {name}")
    admin.close()
    return url


def _redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _private_redis(workdir: Path) -> tuple[str, Process]:
    binary = find_binary("redis-server")
    if binary is None:
        raise SystemExit("cluster: no Redis answers and redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = processes.spawn(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        quiet=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if _redis_answers(url):
            return url, process
        time.sleep(0.1)
    raise SystemExit("cluster: the private redis-server did not start")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    parser.add_argument("--push-workers", type=int, default=int(os.environ.get("PUSH_WORKERS", "1")),
                        help="`chat push-worker` processes (0: each socket worker delivers pushes itself)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--first-worker-port", type=int, default=int(os.environ.get("WORKER_PORT", "0")),
                        help="worker i listens on this + i (default: free ports)")  # fmt: skip
    parser.add_argument("--async-mode", default=os.environ.get("CHAT_ASYNC_MODE", "eventlet"),
                        choices=["eventlet", "gevent", "threading"])  # fmt: skip
    parser.add_argument("--stats-port", type=int, default=int(os.environ.get("STATS_PORT", "0")) or None)
    parser.add_argument("--print-nginx-conf", action="store_true", help="print deploy/nginx.conf and exit")
    args = parser.parse_args(argv)
    if args.print_nginx_conf:
        sys.stdout.write(render_nginx_config(**PRODUCTION_NGINX))
        return 0

    python = processes.default_python()
    private: list[Process] = []
    scratch = Path(tempfile.mkdtemp(prefix="chat-cluster-services-"))

    database_url = os.environ.get("CHAT_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not database_url:
        database_url = _postgres_database("postgresql://postgres@127.0.0.1:5432/chat_cluster")
        if database_url is None:
            database_url = f"sqlite:///{ROOT / 'instance' / 'cluster.db'}"
            print("cluster: WARNING no PostgreSQL at 127.0.0.1:5432; using SQLite (fine for a demo, not production)")
    redis_url = os.environ.get("CHAT_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not _redis_answers(redis_url):
        print(f"cluster: no Redis at {redis_url}; starting a private redis-server")
        redis_url, process = _private_redis(scratch)
        private.append(process)

    print(f"cluster: database {database_url.split('@')[-1]}, redis {redis_url}, {args.workers} x {args.async_mode}, "
          f"{args.push_workers} push worker(s)")
    processes.migrate(database_url, python)
    ports = [args.first_worker_port + i for i in range(args.workers)] if args.first_worker_port else None
    cluster = Cluster(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=os.environ.get("CHAT_REDIS_PREFIX", "chat"),
        workers=args.workers,
        push_workers=args.push_workers,
        port=args.port,
        async_mode=args.async_mode,
        stats_port=args.stats_port,
        python=python,
    )
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start(ports)
        print(f"cluster: load balancer on {cluster.url} -> " + ", ".join(w.url for w in cluster.nodes))
        if args.stats_port:
            print(f"cluster: HAProxy stats on http://127.0.0.1:{args.stats_port}/")
        print("cluster: Ctrl-C stops everything; a worker that dies is restarted (kill -9 one to watch failover)")
        while not stopping:
            time.sleep(0.5)
            if cluster.haproxy is not None and cluster.haproxy.poll() is not None:
                print("cluster: haproxy exited; stopping")
                break
            for index, worker in enumerate(cluster.nodes):
                if not stopping and not worker.alive:
                    _restart(worker.name, worker.process, partial(cluster.start_worker, index))
            for index, pusher in enumerate(cluster.pushers):
                if not stopping and not pusher.alive:
                    _restart(f"push worker {index + 1}", pusher.process, partial(cluster.start_push_worker, index))
    finally:
        print("cluster: stopping")
        cluster.stop()
        for process in private:
            processes.stop(process, timeout=5)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _restart(name: str, process: Process | None, start: Callable[[], object]) -> None:
    """Start a dead process of the cluster again, saying so (a failure is reported, not fatal)."""
    code = process.returncode if process else None
    print(f"cluster: {name} died ({code}); restarting")
    try:
        start()
    except RuntimeError as exc:
        print(f"cluster: {name} failed to restart: {exc}")


if __name__ == "__main__":
    sys.exit(main())
