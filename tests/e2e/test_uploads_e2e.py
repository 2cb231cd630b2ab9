"""Attachments on real server processes (eventlet, as `make run` and `make cluster`).

- A 25 MiB upload and its download raise the worker's peak RSS by a few MiB,
  not 25: the body is streamed to storage and back (both backends).
- 413 as soon as the limit is crossed: a declared Content-Length is refused
  before the body is sent, a chunked body at the limit; nothing is kept.
- Storage every worker reaches: one worker stores, the other serves (the file
  backend with two processes sharing the folder, the database backend on
  PostgreSQL).
- The purge runs in every worker and purges each upload once (two workers).
- Image work runs beside the event loop: message acks stay fast during a burst
  of photo uploads (the figures are printed; run with -s to see them).
"""

from __future__ import annotations

import io
import os
import re
import select
import socket
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.support.clients import Device, register
from tests.support.server import ServerProcess, migrated_database

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
UPLOAD_ENV = {"CHAT_RATE_UPLOAD_BURST": "100000", "CHAT_RATE_UPLOAD_MIB_BURST": "100000",
              "CHAT_RATE_MESSAGES_BURST": "100000", "CHAT_UPLOAD_PENDING_MAX": "100000"}
SHAPES = [pytest.param("file", "sqlite", id="file-sqlite"), pytest.param("database", "postgres", id="database-pg")]


@contextmanager
def servers(url: str, backend: str, upload_dir: Path, count: int = 1, **env: str) -> Iterator[list[ServerProcess]]:
    extra = {**UPLOAD_ENV, "CHAT_UPLOAD_STORAGE": backend, "CHAT_UPLOAD_DIR": str(upload_dir), **env}
    started: list[ServerProcess] = []
    try:
        for _ in range(count):
            started.append(ServerProcess(url, extra_env=dict(extra)).start())
        yield started
    finally:
        for server in started:
            log = server.log()
            server.stop()
            assert "Traceback" not in log, log


def post_file(base: str, token: str, data: bytes, name: str, content_type: str = "application/octet-stream"):
    return requests.post(base + "/api/v1/uploads", headers={"Authorization": f"Bearer {token}"},
                         files={"file": (name, data, content_type)}, timeout=60)


def upload(base: str, token: str, data: bytes, name: str, content_type: str = "application/octet-stream") -> dict:
    response = post_file(base, token, data, name, content_type)
    assert response.status_code == 201, response.text[:300]
    return response.json()["upload"]


def get(base: str, token: str, path: str, **headers: str) -> requests.Response:
    return requests.get(base + path, headers={"Authorization": f"Bearer {token}", **headers}, timeout=60)


def stored_rows(url: str) -> int:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return int(connection.execute("SELECT count(*) FROM uploads").fetchone()[0])
    import psycopg2

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM uploads")
        return int(cursor.fetchone()[0])


def files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


# ---------------------------------------------------------------- memory


def _status_kib(pid: int, field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE)
    assert match, field
    return int(match.group(1))


def _reset_peak(pid: int) -> None:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux 4.0+)
    except OSError as exc:
        pytest.skip(f"cannot reset the peak RSS of the server: {exc}")


def _peak_rise_mib(pid: int, action) -> float:
    before = _status_kib(pid, "VmRSS")
    _reset_peak(pid)
    action()
    return (_status_kib(pid, "VmHWM") - before) / 1024


@pytest.mark.parametrize(("backend", "kind"), SHAPES)
def test_a_25_mib_upload_and_download_raise_the_workers_rss_by_far_less(backend, kind, tmp_path):
    with migrated_database(kind, tmp_path) as url, servers(url, backend, tmp_path / "uploads") as (server,):
        assert server.process is not None
        pid = server.process.pid
        user = register(server.url)
        warm = upload(server.url, user["token"], os.urandom(2 * MIB), "warm.bin")  # every code path loaded once
        assert len(get(server.url, user["token"], warm["url"]).content) == 2 * MIB
        data = os.urandom(25 * MIB)
        stored: dict = {}
        upload_rise = _peak_rise_mib(pid, lambda: stored.update(upload(server.url, user["token"], data, "big.bin")))
        received = bytearray()

        def download() -> None:
            with requests.get(server.url + stored["url"], headers={"Authorization": f"Bearer {user['token']}"},
                              stream=True, timeout=60) as response:
                assert response.status_code == 200
                for block in response.iter_content(256 * 1024):
                    received.extend(block)

        download_rise = _peak_rise_mib(pid, download)
        assert bytes(received) == data and stored["size"] == 25 * MIB
        print(f"\n[{backend}/{kind}] 25 MiB: peak RSS rise {upload_rise:.1f} MiB uploading, "
              f"{download_rise:.1f} MiB downloading")
        assert upload_rise < 8, f"uploading 25 MiB raised the peak RSS by {upload_rise:.1f} MiB"
        assert download_rise < 8, f"downloading 25 MiB raised the peak RSS by {download_rise:.1f} MiB"


# ---------------------------------------------------------------- 413


def _request_head(port: int, token: str, extra: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall((f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: multipart/form-data; boundary=b\r\n{extra}\r\n").encode())
    return sock


def _read_answer(sock: socket.socket, first: bytes = b"") -> bytes:
    """The whole answer: the headers, then Content-Length bytes of body."""
    answer = first
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _content_length(answer):
        block = sock.recv(65536)
        if not block:
            break
        answer += block
    return answer


def _content_length(answer: bytes) -> int:
    match = re.search(rb"(?im)^content-length:\s*(\d+)", answer.split(b"\r\n\r\n", 1)[0])
    return int(match.group(1)) if match else 0


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


# Serial: "refused within 3x the limit" counts what the client got into its socket, and a
# server starved of CPU by other workers reads (and refuses) later while the kernel buffers more.
@pytest.mark.serial
def test_413_comes_before_the_body_and_at_the_limit_of_a_chunked_one(tmp_path):
    limit = 2 * MIB
    with migrated_database("sqlite", tmp_path) as url, \
            servers(url, "file", tmp_path / "uploads", CHAT_MAX_UPLOAD_BYTES=str(limit)) as (server,):
        user = register(server.url)
        # A declared length over the limit: answered without a byte of the body sent.
        sock = _request_head(server.port, user["token"], f"Content-Length: {30 * MIB}\r\n")
        started = time.monotonic()
        answer = _read_answer(sock)
        assert _status(answer) == 413 and b"payload_too_large" in answer
        assert time.monotonic() - started < 5
        sock.close()

        # Chunked: counted while it streams, refused once the file passes the limit.
        sock = _request_head(server.port, user["token"], "Transfer-Encoding: chunked\r\n")
        # A small send buffer (no autotuning to megabytes): what counts as sent is close to what the server read.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
        sock.sendall(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        block = os.urandom(64 * 1024)
        sent, answer = 0, b""
        while sent < 20 * limit and not answer:
            try:
                sock.sendall(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            except OSError:
                break  # the server answered and closed: read what it said
            sent += len(block)
            if select.select([sock], [], [], 0)[0]:
                answer = _read_answer(sock, sock.recv(65536))
        answer = answer or _read_answer(sock)
        sock.close()
        assert _status(answer) == 413 and b"payload_too_large" in answer
        assert sent < 3 * limit, f"refused after {sent} bytes, the limit is {limit}"
        time.sleep(0.2)
        assert stored_rows(url) == 0 and files_under(tmp_path / "uploads") == []

        # A chunked upload within the limit is stored whole.
        body = head + os.urandom(limit) + b"\r\n--b--\r\n"
        response = requests.post(server.url + "/api/v1/uploads", data=iter([body[i:i + 65536]
                                                                             for i in range(0, len(body), 65536)]),
                                 headers={"Authorization": f"Bearer {user['token']}",
                                          "Content-Type": "multipart/form-data; boundary=b"}, timeout=30)
        assert response.status_code == 201, response.text
        assert response.json()["upload"]["size"] == limit


# ---------------------------------------------------------------- two workers


def _photo(size: tuple[int, int] = (1600, 1200), quality: int = 90) -> bytes:
    image = Image.merge("RGB", [Image.effect_noise(size, 40), Image.linear_gradient("L").resize(size),
                                Image.effect_noise(size, 80)])
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize(("backend", "kind"), SHAPES)
def test_one_worker_stores_and_the_other_serves(backend, kind, tmp_path):
    with migrated_database(kind, tmp_path) as url, servers(url, backend, tmp_path / "uploads", count=2) as (one, two):
        alice, bob = register(one.url), register(two.url)
        data = os.urandom(3 * MIB + 12345)
        file_upload = upload(one.url, alice["token"], data, "notes.bin")
        photo = upload(one.url, alice["token"], _photo(), "photo.jpg", "image/jpeg")
        for item in (file_upload, photo):
            served = get(two.url, alice["token"], item["url"])
            assert served.status_code == 200 and len(served.content) == item["size"]
        assert get(two.url, alice["token"], file_upload["url"]).content == data
        part = get(two.url, alice["token"], file_upload["url"], Range="bytes=1000000-2999999")
        assert part.status_code == 206 and part.content == data[1_000_000:3_000_000]
        thumbnail = get(two.url, alice["token"], photo["thumbnail_url"])
        assert thumbnail.status_code == 200 and Image.open(io.BytesIO(thumbnail.content)).size == (400, 300)
        assert get(two.url, bob["token"], file_upload["url"]).status_code == 404  # not shared with bob yet
        assert get(one.url, bob["token"], photo["thumbnail_url"]).status_code == 404


def _purged_total(server: ServerProcess) -> float:
    text = requests.get(server.url + "/metrics", timeout=10).text
    match = re.search(r"^chat_uploads_purged_total ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.mark.parametrize(("backend", "kind"), SHAPES)
def test_two_workers_purge_every_expired_upload_exactly_once(backend, kind, tmp_path):
    total = 40
    env = {"CHAT_UPLOAD_UNATTACHED_TTL_SECONDS": "2", "CHAT_UPLOAD_PURGE_SECONDS": "0.1"}
    with migrated_database(kind, tmp_path) as url, \
            servers(url, backend, tmp_path / "uploads", count=2, **env) as (one, two):
        user = register(one.url)
        for i in range(total):
            upload((one, two)[i % 2].url, user["token"], os.urandom(300_000 + i), f"{i}.bin")
        deadline = time.monotonic() + 20
        while stored_rows(url) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored_rows(url) == 0
        counts = [_purged_total(one), _purged_total(two)]
        print(f"\n[{backend}/{kind}] purged by each worker: {counts}")
        assert sum(counts) == total, counts
        assert [p for p in files_under(tmp_path / "uploads") if "tmp" not in p.relative_to(tmp_path).parts] == []


# ---------------------------------------------------------------- the event loop


def _send_latencies(device: Device, conversation_id: int, stop: threading.Event, out: list[float]) -> None:
    counter = 0
    while not stop.is_set():
        counter += 1
        sent = time.perf_counter()
        ack = device.call("message:send", {"conversation_id": conversation_id, "body": f"ping {counter}",
                                           "client_id": f"lat-{uuid.uuid4().hex}"})
        assert ack["ok"], ack
        out.append(time.perf_counter() - sent)
        time.sleep(0.02)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@pytest.mark.serial  # ack latencies against the idle ones: alone, after the parallel phase (docs/testing.md)
@pytest.mark.parametrize(("backend", "kind"), SHAPES)
def test_sends_stay_fast_during_a_burst_of_photo_uploads(backend, kind, tmp_path):
    photos = [_photo((4000, 3000), 92) for _ in range(2)]  # 12 MP, ~10 MB each
    with migrated_database(kind, tmp_path) as url, servers(url, backend, tmp_path / "uploads") as (server,):
        alice, bob = register(server.url), register(server.url)
        dm = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]})
        cid = dm.json()["conversation"]["id"]
        device = Device(server.url, alice["token"]).connect()
        try:
            baseline: list[float] = []
            stop = threading.Event()
            pinger = threading.Thread(target=_send_latencies, args=(device, cid, stop, baseline))
            pinger.start()
            time.sleep(3)
            stop.set()
            pinger.join(10)

            started = time.perf_counter()
            upload(server.url, bob["token"], photos[0], "one.jpg", "image/jpeg")
            one_photo = time.perf_counter() - started

            during: list[float] = []
            stop = threading.Event()
            pinger = threading.Thread(target=_send_latencies, args=(device, cid, stop, during))
            pinger.start()
            burst_started = time.perf_counter()
            uploaders = [threading.Thread(target=lambda i=i: [upload(server.url, bob["token"], photos[(i + k) % 2],
                                                                     f"{i}-{k}.jpg", "image/jpeg")
                                                              for k in range(4)])
                         for i in range(4)]
            for thread in uploaders:
                thread.start()
            for thread in uploaders:
                thread.join(300)
            burst = time.perf_counter() - burst_started
            stop.set()
            pinger.join(10)
        finally:
            device.close()
        figures = {name: (statistics.median(values) * 1000, _percentile(values, 0.95) * 1000,
                          _percentile(values, 0.99) * 1000, max(values) * 1000, len(values))
                   for name, values in (("idle", baseline), ("during 16 photo uploads", during))}
        print(f"\n[{backend}/{kind}] one 12 MP photo upload: {one_photo * 1000:.0f} ms; burst of 16: {burst:.1f} s")
        for name, (p50, p95, p99, worst, count) in figures.items():
            print(f"[{backend}/{kind}] send ack {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
                  f"max {worst:.1f} ms ({count} sends)")
        assert len(during) > 20
        # On the loop, 16 photos' decoding and encoding (a few hundred ms of CPU each)
        # would hold acks for a whole photo at a time; beside it, acks stay within
        # tens of ms of their idle times (2 cores: the photos, the database and these
        # clients all share them).
        assert _percentile(during, 0.95) < _percentile(baseline, 0.95) + 0.12
        assert max(during) < max(0.5, one_photo)
