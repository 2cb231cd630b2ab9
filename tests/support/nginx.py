"""A real nginx in front of a test cluster's workers, from the shipped renderer.

deploy/nginx.conf is ``render_nginx_config`` of chatapp/ops/cluster.py with the
production parameters; here the same renderer runs with a free port and the
cluster's workers, inside a minimal main config that keeps every path (pid,
logs, temp files) in a temporary prefix, so nginx runs in the foreground
without touching /etc/nginx or /var.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chatapp.ops import processes
from chatapp.ops.cluster import Cluster, render_nginx_config

from .server import free_port
from .services import require_binary

# One line per request: which upstream answered a given sid (tests read it).
MAIN_CONFIG = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{
    worker_connections 1024;
}}
http {{
    log_format chat '$request_method $uri sid=$arg_sid upstream=$upstream_addr status=$status';
    access_log {prefix}/access.log chat;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/chat.conf;
}}
"""


@dataclass
class Nginx:
    port: int
    prefix: Path
    process: processes.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self, tail: int = 3000) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""


@contextmanager
def running_nginx(cluster: Cluster, timeout: float = 15.0) -> Iterator[Nginx]:
    """nginx on a free port, routing to ``cluster``'s workers exactly as
    deploy/nginx.conf does. Skips (fails with CI=true) without nginx."""
    binary = require_binary("nginx")
    prefix = Path(tempfile.mkdtemp(prefix="chat-nginx-"))
    # Run as root (CI), nginx's workers drop to "nobody": let them in.
    prefix.chmod(0o755)
    port = free_port()
    workers = [(w.name, w.host, w.port) for w in cluster.nodes]
    (prefix / "chat.conf").write_text(render_nginx_config(listen=f"127.0.0.1:{port}", workers=workers))
    config = prefix / "nginx.conf"
    config.write_text(MAIN_CONFIG.format(prefix=prefix))
    command = [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config)]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    process = processes.spawn(command, quiet=True)
    nginx = Nginx(port, prefix, process)
    try:
        try:
            processes.wait_healthy(nginx.url, timeout, process)
        except RuntimeError as exc:
            raise AssertionError(f"nginx did not come up: {exc}\n{nginx.error_log()}") from None
        yield nginx
    finally:
        processes.stop(process)  # SIGTERM: fast shutdown
        shutil.rmtree(prefix, ignore_errors=True)
