"""Real server processes and raw Engine.IO/Socket.IO helpers for the security and fuzz tests."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import websocket

from tests.support.server import ServerProcess, migrate
from tests.support.services import scratch_postgres_database

# Names the tests log in with; every password is this one.
PASSWORD = "correct horse"


DATABASES = ("sqlite", "postgres")


@contextmanager
def live_server(tmp_dir: Path, async_mode: str = "eventlet", database: str = "sqlite", **env: str
                ) -> Iterator[ServerProcess]:
    """A real ``python wsgi.py`` on a migrated SQLite file (or a scratch PostgreSQL
    database, created and dropped here), stopped afterwards."""
    with _database(tmp_dir, database) as url:
        migrate(url)
        server = ServerProcess(url, async_mode=async_mode, extra_env=dict(env)).start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def _database(tmp_dir: Path, database: str) -> Iterator[str]:
    if database == "postgres":
        with scratch_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_dir / 'chat.db'}"


def count_rows(server: ServerProcess, table: str) -> int:
    """Rows of a table in the server's database, read directly (not through the API)."""
    with RowCounter(server, (table,)) as counter:
        return counter()[table]


class RowCounter:
    """Row counts of the server's tables in one query, on a connection kept for many calls."""

    TABLES = ("users", "api_tokens", "conversations", "memberships", "messages", "reactions")

    def __init__(self, server: ServerProcess, tables: tuple[str, ...] = TABLES) -> None:
        import sqlalchemy

        self.tables = tables
        url = server.database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        self.engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        self.query = sqlalchemy.text("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables))

    def __call__(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return dict(zip(self.tables, map(int, conn.execute(self.query).one()), strict=True))

    def __enter__(self) -> RowCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def log_size(server: ServerProcess) -> int:
    assert server.log_path is not None
    return os.path.getsize(server.log_path)


def full_log(server: ServerProcess) -> str:
    assert server.log_path is not None
    return server.log_path.read_text(errors="replace")


class RawSocket:
    """A plain WebSocket speaking Engine.IO v4 / Socket.IO v5 by hand, so tests
    can send what no well-behaved client library would."""

    def __init__(self, base_url: str, timeout: float = 5, **headers: str) -> None:
        ws_url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(ws_url, timeout=timeout, header=[f"{k}: {v}" for k, v in headers.items()])
        opening = self.ws.recv()
        assert opening.startswith("0"), opening
        self.handshake = json.loads(opening[1:])

    def connect_chat(self, token: str) -> dict:
        self.ws.send("40/chat," + json.dumps({"token": token}))
        reply = self.recv_packet()
        assert reply.startswith("40/chat,"), reply
        return json.loads(reply[len("40/chat,"):])

    def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            self.ws.send_binary(data)
        else:
            self.ws.send(data)

    def recv_packet(self) -> str:
        """The next Socket.IO packet (Engine.IO message), answering pings on the way."""
        while True:
            frame = self.ws.recv()
            if frame == "2":
                self.ws.send("3")
                continue
            return frame

    def wait_closed(self, timeout: float = 5) -> bool:
        """True once the server has closed the connection (an Engine.IO close packet or EOF)."""
        deadline = time.monotonic() + timeout
        self.ws.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
                return True
            if frame in ("", "1") or frame is None:
                return True
            if frame == "2":
                self.ws.send("3")
        return False

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass  # the server may have closed first
        finally:
            self.ws.shutdown()  # release the socket even when the closing handshake failed


def register(base_url: str, name: str | None = None) -> dict:
    username = name or f"u{os.urandom(5).hex()}"
    response = requests.post(
        base_url + "/api/v1/auth/register", json={"username": username, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()
