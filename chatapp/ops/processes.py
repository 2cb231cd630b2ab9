"""Process orchestration: free port, start, health wait, stop, kill.

One copy for everything that runs the server as real processes:
deploy/cluster.py (``make cluster``), the tests (tests/support) and the
benchmark (bench/run.py). Every child runs in its own process group
(``start_new_session``): Ctrl-C reaches only the orchestrating script, which
stops the children in order, and a kill reaches a whole gunicorn (master and
worker) at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The checkout: wsgi.py, migrations/ and the venv live here (the package is
# installed editable, ``pip install -e .``).
ROOT = Path(__file__).resolve().parents[2]
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
HEALTH_PATH = "/healthz"

Process = subprocess.Popen[bytes]


def default_python() -> str:
    """The project's venv interpreter when there is one, else the running one."""
    return str(_VENV_PYTHON if _VENV_PYTHON.exists() else sys.executable)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def find_binary(name: str) -> str | None:
    """``name`` on PATH, or in the sbin folders a non-root PATH may lack."""
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.path.exists(p)), None
    )


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    log_path: Path | None = None,
    quiet: bool = False,
) -> Process:
    """Start ``command`` in its own process group. Output: appended to
    ``log_path`` when given, discarded when ``quiet``, else inherited."""
    if log_path is not None:
        with open(log_path, "ab") as out:  # the child keeps its own descriptor
            return subprocess.Popen(
                list(command), cwd=cwd, env=dict(env) if env is not None else None,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
    output = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(
        list(command), cwd=cwd, env=dict(env) if env is not None else None,
        stdout=output, stderr=output, start_new_session=True,
    )  # fmt: skip


def wait_healthy(
    url: str, timeout: float, process: Process | None = None, *, path: str = HEALTH_PATH, log_tail: str = ""
) -> None:
    """Poll ``url + path`` until it answers 200. Raises RuntimeError (with
    ``log_tail``) when ``process`` exits first or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}\n{log_tail}".rstrip())
        try:
            with urllib.request.urlopen(url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in {timeout:.0f}s: {last}\n{log_tail}".rstrip())


def alive(process: Process | None) -> bool:
    return process is not None and process.poll() is None


def kill(process: Process | None, timeout: float = 10.0) -> None:
    """SIGKILL to the whole group, no goodbye: what a crash or the OOM killer does."""
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout)


def stop(process: Process | None, timeout: float = 10.0) -> None:
    """SIGTERM to the whole group; SIGKILL when it has not exited in ``timeout``."""
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(process)


def migrate(database_url: str, python: str | None = None, *, quiet: bool = False, timeout: float | None = None) -> None:
    """``flask db upgrade`` on ``database_url`` (threading: no monkey-patching needed)."""
    env = {**os.environ, "CHAT_DATABASE_URL": database_url, "CHAT_ASYNC_MODE": "threading"}
    subprocess.run(
        [python or default_python(), "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, check=True, capture_output=quiet, timeout=timeout,
    )  # fmt: skip


def read_tail(path: Path | None, tail: int = 5000) -> str:
    if path is not None and path.exists():
        return path.read_text(errors="replace")[-tail:]
    return ""


@dataclass
class AppProcess:
    """One process of the app with the database and async mode it is given, its
    output in a log file of its own: a server or a push worker."""

    database_url: str
    async_mode: str = "eventlet"
    extra_env: dict[str, str] = field(default_factory=dict)
    python: str = field(default_factory=default_python)
    # The tree it runs from: this one, or another revision's worktree (bench/ab.py).
    root: Path = ROOT
    process: Process | None = None
    log_path: Path | None = None
    _own_log: bool = field(default=False, init=False, repr=False)
    _log_start: int = field(default=0, init=False, repr=False)

    def own_env(self) -> dict[str, str]:
        """What this kind of process adds to the environment (extra_env still wins)."""
        return {}

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CHAT_DATABASE_URL": self.database_url,
            "CHAT_ASYNC_MODE": self.async_mode,
            **self.own_env(),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def _spawn(self, command: Sequence[str], log_path: Path | None, prefix: str) -> Process:
        """Start ``command``; its output goes to ``log_path`` (appended), or to a
        temporary log file of its own that ``stop`` removes."""
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self._log_start = log_path.stat().st_size if log_path.exists() else 0
        self.process = spawn([self.python, *command], env=self.env(), cwd=self.root, log_path=self.log_path)
        return self.process

    @property
    def alive(self) -> bool:
        return alive(self.process)

    def log(self, tail: int = 5000) -> str:
        return read_tail(self.log_path, tail)

    def new_output(self) -> str:
        """What this run wrote (a restart appends to the previous run's log)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            return log.read().decode("utf-8", "replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (crash test)."""
        kill(self.process)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (SIGKILL after ``timeout``); the exit status. A log file of its own is removed."""
        stop(self.process, timeout)
        if self._own_log and self.log_path and self.log_path.exists():
            self.log_path.unlink()
        return None if self.process is None else self.process.returncode


@dataclass
class ServerProcess(AppProcess):
    """One real server process (``python wsgi.py``, as ``make run``) on a free port."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def own_env(self) -> dict[str, str]:
        return {"HOST": self.host, "PORT": str(self.port)}

    def start(self, timeout: float = 30.0) -> ServerProcess:
        process = self._spawn(["wsgi.py"], None, "chat-server-")
        try:
            wait_healthy(self.url, timeout, process)
        except RuntimeError as exc:
            log = self.log()
            self.stop()
            raise RuntimeError(f"server did not become healthy: {exc}\n{log}") from None
        return self


# `chat push-worker` without relying on the console script: wsgi.cli() is what it runs
# (wsgi.py monkey-patches first), argv[1:] is the command.
PUSH_WORKER_COMMAND = ("-c", "import wsgi; wsgi.cli()", "push-worker")
PUSH_WORKER_READY = "push worker: delivering"


@dataclass
class PushWorkerProcess(AppProcess):
    """One ``chat push-worker`` process (no port): it delivers the outbox's pushes."""

    def start(self, timeout: float = 30.0, log_path: Path | None = None) -> PushWorkerProcess:
        """Start it and wait until its loop runs (the line it prints then)."""
        process = self._spawn(PUSH_WORKER_COMMAND, log_path, "chat-push-worker-")
        deadline = time.monotonic() + timeout
        while PUSH_WORKER_READY not in self.new_output():
            if process.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError(f"push worker did not start (exit {process.returncode}):\n{log}")
            time.sleep(0.05)
        return self
