"""HTTP/1.1 POSTs to push services: pinned addresses, a total deadline, a capped
body, no redirects, kept-alive connections.

The stdlib's http.client rather than requests, for three things requests does
not offer: the request goes to the very address that was checked against
request forgery (resolve, check, connect to that IP with TLS verified for the
host name; no second lookup that DNS rebinding could answer differently); the
timeout bounds the whole exchange (connect, TLS, headers and body together),
where requests' read timeout restarts on every byte a hostile service dribbles;
and nothing reads proxy variables or follows redirects behind our back. Under
eventlet/gevent the sockets are cooperative once wsgi.py has monkey-patched.

Connections are kept alive per origin: nearly every push goes to a handful of
services (FCM, Mozilla, Apple), and a TLS handshake per push would cost more
CPU than the encryption.
"""

from __future__ import annotations

import email.utils
import http.client
import io
import select
import socket
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult

# Push services answer with a few hundred bytes; an error page larger than this
# is cut (and its connection closed rather than drained).
MAX_RESPONSE_BYTES = 64 * 1024
# The default; PushSender.from_config keeps at least the pushes one worker has in
# flight (CHAT_PUSH_CONCURRENCY, default 16), however that is configured:
# with fewer, each batch closed and reopened connections (a TLS handshake each
# against a real push service, more than the push itself: bench/results/push.md).
MAX_IDLE_PER_ORIGIN = 32
# Below the keep-alive timeouts services use (nginx 75 s, Google 240 s), so a
# connection is rarely found closed by the other side.
IDLE_SECONDS = 30.0


class TransportError(Exception):
    """Network trouble (refused, reset, timeout, TLS failure): retry later.

    ``stale``: a kept-alive connection turned out closed before any answer came
    (the one case worth repeating at once, on a fresh connection)."""

    def __init__(self, message: str, *, stale: bool = False) -> None:
        super().__init__(message)
        self.stale = stale


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait: ``Retry-After`` as delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def snippet(body: bytes, limit: int = 200) -> str:
    """A service's answer for a log line: short, one line."""
    return " ".join(body[: limit * 4].decode("utf-8", "replace").split())[:limit]


class _DeadlineReader(io.RawIOBase):
    """The socket as http.client reads it, each read bounded by what is left of
    the deadline: a service sending one byte a second cannot stretch the exchange.
    Reads through the socket's own SocketIO, whose reference keeps the socket
    open after http.client closes the connection under a final response."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the push service did not answer in time")
        self._sock.settimeout(remaining)
        return self._raw.readinto(buffer) or 0  # None only for non-blocking sockets

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """What HTTPResponse gets instead of the socket: it only calls makefile()."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _Connection(http.client.HTTPConnection):
    """One connection to one of the checked addresses (tried in order, within the
    deadline); TLS verified against the host name, never against the address."""

    def __init__(self, host: str, port: int, addresses: Sequence[str], tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self.default_port = 443 if tls else 80  # the Host header leaves the default port out
        self._addresses = list(addresses)
        self._tls = tls
        self.idle_since = 0.0
        self.deadline = 0.0

    def connect(self) -> None:
        error: OSError = TimeoutError("the push service did not answer in time")
        for address in self._addresses:
            try:
                sock = socket.create_connection((address, self.port), timeout=self._remaining())
            except OSError as exc:
                error = exc
                continue
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self._tls is not None:
                    sock.settimeout(self._remaining())  # CPython bounds the whole handshake by it
                    sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
            self.sock = sock
            return
        raise error

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the push service did not answer in time")
        return remaining

    def response_class(self, sock: socket.socket, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:  # type: ignore[override]
        return http.client.HTTPResponse(_DeadlineSocket(sock, self.deadline), *args, **kwargs)  # type: ignore[arg-type]

    def dropped(self) -> bool:
        """Closed by the service while idle (or it sent something unasked). Unknown
        (select() cannot watch descriptors above 1024, eventlet has no poll()):
        assume alive; a stale connection is retried once on a fresh one anyway."""
        sock = self.sock
        if sock is None:
            return True
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                return bool(poller.poll(0))
            readable, _, _ = select.select([sock], [], [], 0)
            return bool(readable)
        except (OSError, ValueError):
            return False


class Transport:
    """POST with a total deadline; kept-alive connections shared by threads."""

    def __init__(self, timeout: float, max_idle: int = MAX_IDLE_PER_ORIGIN) -> None:
        self.timeout = timeout
        self.max_idle = max_idle
        self._tls = ssl.create_default_context()
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    def post(
        self, parts: SplitResult, addresses: Sequence[str], headers: Mapping[str, str], body: bytes,
    ) -> Response:  # fmt: skip
        """``parts`` is the URL; ``addresses`` what its host resolved to (checked by
        the caller). Raises TransportError for every kind of network trouble."""
        deadline = time.monotonic() + self.timeout
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port)
        connection = self._take(key)
        if connection is not None:
            try:
                return self._exchange(key, connection, target, headers, body, deadline)
            except TransportError as exc:
                if not exc.stale:
                    raise
                # Closed by the service between our check and the request: once
                # more on a fresh connection (what urllib3 does too).
        fresh = _Connection(host, port, addresses, self._tls if scheme == "https" else None)
        return self._exchange(key, fresh, target, headers, body, deadline)

    def _exchange(
        self, key: tuple[str, str, int], connection: _Connection, target: str, headers: Mapping[str, str],
        body: bytes, deadline: float,
    ) -> Response:  # fmt: skip
        connection.deadline = deadline
        keep = False
        try:
            if connection.sock is not None:
                connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
            connection.request("POST", target, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
            keep = len(data) <= MAX_RESPONSE_BYTES and not response.will_close and response.isclosed()
            answer = {name.lower(): value for name, value in response.getheaders()}
            return Response(response.status, answer, data[:MAX_RESPONSE_BYTES])
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}", stale=connection.idle_since > 0) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # timeouts, TLS, malformed answers
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        finally:
            if keep:
                self._give_back(key, connection)
            else:
                connection.close()

    def _take(self, key: tuple[str, str, int]) -> _Connection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                connection = idle.pop()
            if now - connection.idle_since < IDLE_SECONDS and not connection.dropped():
                return connection
            connection.close()

    def _give_back(self, key: tuple[str, str, int], connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_idle:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close every idle connection (shutdown, tests)."""
        with self._lock:
            connections = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for connection in connections:
            connection.close()
