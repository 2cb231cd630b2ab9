"""`make cluster` runs deploy/cluster.py in the foreground: it must serve
through the load balancer, restart a worker (or the push worker) that dies,
and stop everything it started on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.server import PYTHON, ROOT, free_port
from tests.support.services import REDIS_URL, require_binary, scratch_postgres_database, scratch_redis_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def push_workers(pids: set[int]) -> set[int]:
    return {pid for pid in pids if b"push-worker" in Path(f"/proc/{pid}/cmdline").read_bytes()}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def worker_pid(url: str, cookie: str) -> int | None:
    try:
        response = requests.get(url + "/healthz", cookies={"CHATSRV": cookie}, timeout=2)
    except requests.RequestException:
        return None
    return response.json()["worker"] if response.status_code == 200 else None


def test_cluster_command_serves_restarts_a_dead_worker_and_stops_on_ctrl_c(tmp_path):
    require_binary("haproxy")
    log_path = tmp_path / "cluster.log"
    with scratch_postgres_database() as database_url, scratch_redis_prefix() as prefix:
        port = free_port()
        env = {**os.environ, "CHAT_DATABASE_URL": database_url, "CHAT_REDIS_URL": REDIS_URL,
               "CHAT_REDIS_PREFIX": prefix, "PYTHONUNBUFFERED": "1"}  # fmt: skip
        log = log_path.open("w")  # a file, not a pipe: the workers write to it too
        process = subprocess.Popen(
            [PYTHON, "deploy/cluster.py", "--workers", "2", "--port", str(port)], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: worker_pid(url, "w1") is not None, 90, "the cluster did not come up")
            first = {name: worker_pid(url, name) for name in ("w1", "w2")}
            assert None not in first.values() and first["w1"] != first["w2"], first
            started = children(process.pid)
            # Two socket workers, haproxy, one `chat push-worker` (the workers run no push loop).
            assert set(first.values()) <= started and len(started) == 4, started
            (pusher,) = push_workers(started)

            os.kill(first["w1"], signal.SIGKILL)
            # Meanwhile HAProxy redispatches w1's cookie to w2; then the new w1 answers.
            wait_for(lambda: worker_pid(url, "w1") not in (None, *first.values()), 60, "w1 was not restarted")
            assert worker_pid(url, "w2") == first["w2"]
            os.kill(pusher, signal.SIGKILL)
            wait_for(lambda: len(push_workers(children(process.pid) - {pusher})) == 1, 60,
                     "the push worker was not restarted")
            everything = children(process.pid) | started

            process.send_signal(signal.SIGINT)
            process.wait(30)
            assert process.returncode == 0
            wait_for(lambda: not any(alive(pid) for pid in everything), 15, "a process outlived Ctrl-C")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            log.close()
            output = log_path.read_text(errors="replace")
        assert "w1 died" in output and "restarting" in output, output[-3000:]
        assert "push worker 1 died" in output, output[-3000:]
        assert "cluster: stopping" in output
