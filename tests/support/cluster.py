"""A real cluster for tests: N worker processes, HAProxy, Redis and PostgreSQL.

The cluster itself is chatapp/ops/cluster.py, the code behind ``make cluster``: the
tests run the shipped worker commands and the shipped HAProxy configuration
generator, only with free ports, a scratch database, a scratch Redis prefix
and a temporary directory for the generated config and the logs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chatapp.ops import cluster as deploy_cluster  # noqa: F401 (tests read its renderers and PRODUCTION_NGINX)
from chatapp.ops.cluster import Cluster

from .server import PYTHON, free_port, migrate
from .services import REDIS_URL, require_binary, scratch_postgres_database, scratch_redis_prefix

# Fast presence healing for tests; the defaults (5 s / 20 s) heal within 25 s.
FAST_PRESENCE = {
    "CHAT_PRESENCE_HEARTBEAT_SECONDS": "0.5",
    "CHAT_PRESENCE_TTL_SECONDS": "2",
    "CHAT_PRESENCE_OFFLINE_GRACE_SECONDS": "0.5",
}


@contextmanager
def running_cluster(
    workers: int = 2, async_mode: str = "eventlet", extra_env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    """Start a cluster on free ports with its own database and Redis prefix;
    stop it and drop both afterwards. Skips (fails with CI=true) when HAProxy,
    Redis or PostgreSQL is missing."""
    require_binary("haproxy")
    with scratch_postgres_database() as database_url, scratch_redis_prefix() as prefix:
        migrate(database_url)
        log_dir = Path(tempfile.mkdtemp(prefix="chat-cluster-logs-"))
        cluster = Cluster(
            database_url=database_url,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            workers=workers,
            port=free_port(),
            async_mode=async_mode,
            extra_env={"CHAT_RATE_MESSAGES_BURST": "200", "CHAT_RATE_REGISTER_BURST": "1000000", **FAST_PRESENCE,
                       **(extra_env or {})},
            log_dir=log_dir,
            # Health checks every 300 ms: a killed worker leaves the pool fast.
            check_interval_ms=300,
            python=PYTHON,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
            for path in log_dir.glob("*.log"):
                path.unlink()
            log_dir.rmdir()


def logs(cluster: Cluster) -> str:
    """Every process's log tail, for assertion messages."""
    return "\n".join(f"--- {w.name}\n{w.log(3000)}" for w in cluster.nodes)
