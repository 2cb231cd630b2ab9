"""Resources a client can hold (issue 11, class 6): slow header reads and limiter state.

Before the fix a connection that sent half its headers was kept open for as
long as the client liked (no header-read deadline), so 50 of them held 50
connections and kept /healthz timing out behind a proxy's connection limit;
and the in-memory rate-limit buckets grew by one entry per distinct login
name, forever (5,000 names, 5,001 entries).
"""

from __future__ import annotations

import socket
import time

import pytest
import requests

from chatapp.services import ratelimit
from chatapp.services.errors import RateLimited
from chatapp.services.state import MemoryState

from .live import live_server

HEADER_TIMEOUT = 2
IDLE_TIMEOUT = 3
SLOW_CLIENTS = 50


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server closes the connection (EOF or reset) within ``within`` seconds."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return True  # reset
        if not data:
            return True
        # A 400 answer is fine too; the close follows.
    return False


@pytest.mark.e2e
@pytest.mark.parametrize("async_mode", ["eventlet", "gevent"])
def test_half_sent_headers_cannot_hold_connections(tmp_path, async_mode):
    env = {"CHAT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT), "CHAT_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT)}
    with live_server(tmp_path, async_mode=async_mode, **env) as server:
        slow = []
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never the rest
            slow.append(sock)
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)  # sends nothing at all
        try:
            # Everyone else is served meanwhile (generous bound: a loaded 2-core box).
            assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
            # And the server lets go of each slow connection after the header deadline.
            # (A margin of several deadlines; before the fix they stayed open indefinitely.)
            still_open = [s for s in slow if not _closed_by_server(s, within=HEADER_TIMEOUT * 5)]
            assert not still_open, f"{len(still_open)} of {SLOW_CLIENTS} half-header connections still open"
            assert _closed_by_server(silent, within=IDLE_TIMEOUT * 5)
            # Trickling one header byte at a time does not reset the deadline.
            trickle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
            started = time.monotonic()
            closed = False
            while time.monotonic() - started < HEADER_TIMEOUT * 5:
                try:
                    trickle.sendall(b"X")
                except OSError:
                    closed = True
                    break
                time.sleep(0.3)
            assert closed or _closed_by_server(trickle, within=1), "a trickling client kept its connection"
            trickle.close()
            assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        finally:
            for sock in [*slow, silent]:
                sock.close()


def test_rate_limit_buckets_in_memory_are_bounded(app):
    """5,000 distinct login names left 5,001 buckets; the state now keeps at most its bound."""
    state = MemoryState(max_buckets=1000)
    app.extensions["chat.state"] = state
    for i in range(5000):  # a name and an address each: 10,000 keys unbounded
        ratelimit.check_login(f"name{i}", f"10.{i // 256}.{i % 256}.1")
    assert state.bucket_count() <= 1000
    # The bound never hands anyone a fresh budget they had spent: the address bucket, touched
    # on every attempt, is the most recently used and survives every trim.
    app.config.update(RATE_LOGIN_BURST=2, RATE_LOGIN_PER_SECOND=0.001)
    limited = MemoryState(max_buckets=50)
    app.extensions["chat.state"] = limited
    outcomes = []
    for i in range(200):
        try:
            ratelimit.check_login(f"spray{i}", "192.0.2.2")
            outcomes.append("ok")
        except RateLimited as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[:10] == ["ok"] * 10 and set(outcomes[10:]) == {"RateLimited"}
    assert limited.bucket_count() <= 50
