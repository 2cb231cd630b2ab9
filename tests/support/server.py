"""Start the real server the way `make run` does (migrations, then wsgi.py) on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate(database_url: str) -> None:
    env = {**os.environ, "CHAT_DATABASE_URL": database_url, "CHAT_ASYNC_MODE": "threading"}
    subprocess.run(
        [PYTHON, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
    )


@dataclass
class ServerProcess:
    """One real server process (``python wsgi.py``)."""

    database_url: str
    async_mode: str = "eventlet"
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = {
            **os.environ,
            "CHAT_DATABASE_URL": self.database_url,
            "CHAT_ASYNC_MODE": self.async_mode,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            # Tests register many users from 127.0.0.1; the register limit has its own tests.
            "CHAT_RATE_REGISTER_BURST": "1000000",
            **self.extra_env,
        }
        log = tempfile.NamedTemporaryFile(prefix="chat-server-", suffix=".log", delete=False)
        self.log_path = Path(log.name)
        with log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [PYTHON, "wsgi.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (crash test)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.log_path and self.log_path.exists():
            self.log_path.unlink()
