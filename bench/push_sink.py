"""A Web Push service for the benchmark that takes every push at once (``201``).

Why not tests/support/push_service.py's LocalPushService: it verifies the VAPID
signature and decrypts each push as it arrives (an ECDSA verify and an ECDH per
push, in http.server with a thread per connection), on the same two cores as
the server, so at hundreds of pushes per second the double would take CPU the
server needs. This sink only parses the request, records ``(arrival time,
path, Topic, body)`` and answers: about 80 µs of CPU per push (2,000 kept-alive
POSTs, this machine). bench/push.py decrypts the recorded bodies after the
run, off the measured window, which proves each push was a real encrypted push
to that subscription.

One asyncio loop in a thread of the benchmark's own process: the sink's CPU is
the generator side's, never the server's, and it is read (``cpu_seconds``) so a
saturated sink would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass

MAX_BODY = 8192  # RFC 8030 services accept 4096 bytes; twice that is surely not a push
_CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
_TOO_LARGE = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Push:
    at: float  # time.time() when the whole request was in (the server's clock: same machine)
    path: str
    topic: str | None
    body: bytes


class PushSink:
    """``with PushSink() as sink``: ``sink.origin`` to subscribe, ``sink.received`` after."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.received: list[Push] = []  # appended by the loop thread only
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._cpu = 0.0
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def cpu_seconds(self) -> float:
        """CPU of the sink's thread so far."""
        loop = self._loop
        if loop is None or not loop.is_running():
            return self._cpu
        future = asyncio.run_coroutine_threadsafe(self._thread_time(), loop)
        return future.result(timeout=5)

    async def _thread_time(self) -> float:
        return time.thread_time()

    def __enter__(self) -> PushSink:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="push-sink", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the push sink did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, self.host, 0, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            # Closed from this side, each kept-alive connection's reader sees EOF and
            # its handler returns (cancelling them instead logs an error per task).
            for writer in list(self._writers):
                writer.close()
            if self._handlers:
                await asyncio.wait(list(self._handlers), timeout=5)
        self._cpu = time.thread_time()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """HTTP/1.1 with keep-alive, as the server's transport speaks it: a request
        line, headers, a Content-Length body; anything else closes the connection."""
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        task.add_done_callback(self._handlers.discard)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            while True:
                line = await reader.readline()
                if not line:
                    break
                path = line.split(b" ")[1].decode()
                length, topic = 0, None
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"topic":
                        topic = value.strip().decode()
                if length > MAX_BODY:
                    writer.write(_TOO_LARGE)
                    await writer.drain()
                    break
                body = await reader.readexactly(length)
                self.received.append(Push(time.time(), path, topic, body))
                writer.write(_CREATED)
                await writer.drain()
        self._writers.discard(writer)
        writer.close()
