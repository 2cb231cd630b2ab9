"""Start the real server the way `make run` does (migrations, then wsgi.py) on a free port.

The orchestration (free port, start, health wait, stop, kill) is chatapp/ops/processes.py,
shared with `make cluster` and the benchmark; this adds what tests need on top.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chatapp.ops import processes
from chatapp.ops.processes import ROOT, free_port
from tests.support.services import scratch_postgres_database

PYTHON = sys.executable

# Tests register many users from 127.0.0.1; the register limit has its own tests.
TEST_ENV = {"CHAT_RATE_REGISTER_BURST": "1000000"}


def migrate(database_url: str) -> None:
    processes.migrate(database_url, PYTHON, quiet=True, timeout=120)


@contextmanager
def migrated_database(kind: str, tmp_path: Path | None) -> Iterator[str]:
    """A database migrated as ``make run`` does: a scratch PostgreSQL database
    (dropped afterwards) or a SQLite file under ``tmp_path``."""
    if kind == "postgres":
        with scratch_postgres_database() as url:
            migrate(url)
            yield url
    else:
        assert tmp_path is not None
        url = f"sqlite:///{tmp_path / 'chat.db'}"
        migrate(url)
        yield url


@dataclass
class ServerProcess(processes.ServerProcess):
    """One real server process (``python wsgi.py``) with the tests' environment."""

    python: str = PYTHON

    def env(self) -> dict[str, str]:
        return {**super().env(), **TEST_ENV, **self.extra_env}


__all__ = ["PYTHON", "ROOT", "ServerProcess", "free_port", "migrate", "migrated_database"]
