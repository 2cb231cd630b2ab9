"""Raw protocol abuse over a plain WebSocket and over polling, against a real server process.

python-socketio buffers binary attachments without a cap and engineio logs a
traceback per malformed packet; chatapp/realtime/guard.py closes both. These
tests prove it with the server's own RSS and log size.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
import websocket

from tests.support.clients import Device

from .live import RawSocket, live_server, log_size, register, rss_kib

# serial: the server's RSS and log growth are bounded; alone, after the parallel phase (docs/testing.md).
pytestmark = [pytest.mark.e2e, pytest.mark.serial]

# 3000 frames of 60 KB: about 180 MB that an unguarded worker would buffer.
ABUSE_FRAMES = 3000
FRAME = b"\x00" * 60_000
# Growth allowed for sockets, greenlets and allocator noise during the test.
RSS_SLACK_KIB = 25 * 1024

MALFORMED = [
    "", "x", "4", "4x", "42/chat,{", "42/chat,[", "42/chat,[\"message:send\",{]", "4" + "9" * 200,
    "42/chat,12345678901234567890123456789012345678901[]", "49", "42/chat,\"just a string\"",
    "42/nope,[\"message:send\",{}]", "40/chat,[1,2]", "41/chat,{", "48", "4-1-", "b!!!", "6", "9",
    "42/chat,[null]", "42/chat,[{}]", "43/chat,[]", "43/chat,5[\"ack\"]", "42/chat,[[]]", "42/chat,[1e999]",
    "44/chat,{\"message\":\"fake error\"}", "4\x00\x01\x02",
    "4" + "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("abuse")) as srv:
        yield srv


@pytest.fixture(scope="module")
def alice(server):
    return register(server.url)


def _normal_send_works(server, user) -> None:
    """A well-behaved client still connects and a message round-trips."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {user['token']}"
    group = api.post(server.url + "/api/v1/conversations", json={"type": "group", "name": "after", "member_ids": []},
                     timeout=10)
    assert group.status_code == 201, group.text
    device = Device(server.url, user["token"]).connect()
    try:
        cid = group.json()["conversation"]["id"]
        payload = {"conversation_id": cid, "body": "still fine", "client_id": str(uuid.uuid4())}
        ack = device.call("message:send", payload)
        assert ack["ok"] is True, ack
        device.wait_for("message:new", lambda d: d["message"]["id"] == ack["message"]["id"])
    finally:
        device.close()


def _flood(raw: RawSocket, frames: int) -> int:
    sent = 0
    try:
        for _ in range(frames):
            raw.send(FRAME)
            sent += 1
    except (websocket.WebSocketException, OSError):
        pass  # the server closed the connection: the point of the test
    return sent


def test_binary_packet_with_huge_attachment_count_is_refused_and_rss_stays_flat(server, alice):
    raw = RawSocket(server.url)
    raw.connect_chat(alice["token"])
    before = rss_kib(server.process.pid)
    # A BINARY_EVENT announcing 9,999,999,999 attachments, then a flood of them.
    raw.send('459999999999-/chat,["message:send",{"_placeholder":true,"num":0}]')
    sent = _flood(raw, ABUSE_FRAMES)
    time.sleep(0.5)
    after = rss_kib(server.process.pid)
    raw.close()
    print(f"binary attachment flood: {sent} frames of {len(FRAME)} B sent; RSS {before} KiB -> {after} KiB")
    assert after - before < RSS_SLACK_KIB, f"RSS grew by {(after - before) // 1024} MiB"
    _normal_send_works(server, alice)


def test_bare_binary_frames_are_refused(server, alice):
    raw = RawSocket(server.url)
    raw.connect_chat(alice["token"])
    before = rss_kib(server.process.pid)
    raw.send(b"2/chat,[\"message:send\",{}]")  # a binary frame that happens to look like an event
    assert raw.wait_closed(), "the server kept a socket that sent binary"
    raw.close()
    assert rss_kib(server.process.pid) - before < RSS_SLACK_KIB
    _normal_send_works(server, alice)


def test_oversized_frames_close_the_socket_and_store_nothing(server, alice):
    limit = 64 * 1024
    big_event = '42/chat,["message:send",{"conversation_id":1,"client_id":"x","body":"' + "a" * limit + '"}]'
    raw = RawSocket(server.url)
    raw.connect_chat(alice["token"])
    raw.send(big_event)  # one frame above the limit
    assert raw.wait_closed(), "an oversized frame did not close the socket"
    raw.close()

    # The same amount split into continuation frames (each frame small, the message large).
    raw = RawSocket(server.url)
    raw.connect_chat(alice["token"])
    chunk = 16 * 1024
    parts = [big_event[i:i + chunk] for i in range(0, len(big_event), chunk)]
    try:
        raw.ws.send_frame(websocket.ABNF.create_frame(parts[0], websocket.ABNF.OPCODE_TEXT, fin=0))
        for part in parts[1:-1]:
            raw.ws.send_frame(websocket.ABNF.create_frame(part, websocket.ABNF.OPCODE_CONT, fin=0))
        raw.ws.send_frame(websocket.ABNF.create_frame(parts[-1], websocket.ABNF.OPCODE_CONT, fin=1))
    except (websocket.WebSocketException, OSError):
        pass
    assert raw.wait_closed(), "an oversized fragmented message did not close the socket"
    raw.close()

    history = requests.get(server.url + "/api/v1/conversations", headers={"Authorization": f"Bearer {alice['token']}"},
                           timeout=10).json()
    assert all(c["last_seq"] == 0 or c["name"] == "after" for c in history["conversations"])
    _normal_send_works(server, alice)


def test_malformed_packets_close_the_socket_without_log_amplification(server, alice):
    n_ws = 10 * len(MALFORMED)
    before = log_size(server)
    rss_before = rss_kib(server.process.pid)
    started = time.monotonic()
    for i in range(n_ws):
        raw = RawSocket(server.url)
        raw.connect_chat(alice["token"])
        packet = MALFORMED[i % len(MALFORMED)]
        raw.send(packet if packet != "" else "4")  # an empty Engine.IO message (Socket.IO packet "")
        raw.close()
    # Engine.IO level garbage over websocket (not even an Engine.IO packet type).
    n_eio = 50
    for i in range(n_eio):
        raw = RawSocket(server.url)
        raw.send(["", "x", "9", "b", "\x1e"][i % 5])
        raw.close()
    # And garbage POSTed to long-polling sessions.
    n_poll = 100
    for i in range(n_poll):
        opening = requests.get(server.url + "/socket.io/?EIO=4&transport=polling", timeout=5).text
        sid = json.loads(opening[1:])["sid"]
        body = [b"\xff\xfe", b"x", b"4" + b"9" * 300, b"42/chat,{", b"451-/chat,[1]\x1ebAAAA", b"\x1e" * 20][i % 6]
        response = requests.post(server.url + f"/socket.io/?EIO=4&transport=polling&sid={sid}", data=body, timeout=5)
        assert response.status_code < 500
    elapsed = time.monotonic() - started
    time.sleep(0.5)
    growth = log_size(server) - before
    total = n_ws + n_eio + n_poll
    print(f"{total} malformed packets in {elapsed:.1f}s: log grew by {growth} bytes")
    assert "Traceback" not in server.log()
    # A handful of throttled one-line reports, not one traceback (~1.5 KB) per packet.
    assert growth < 4096, server.log()
    assert rss_kib(server.process.pid) - rss_before < RSS_SLACK_KIB
    _normal_send_works(server, alice)


def test_malformed_packet_on_a_live_socket_closes_only_that_socket(server, alice):
    bystander = Device(server.url, alice["token"]).connect()
    try:
        raw = RawSocket(server.url)
        raw.connect_chat(alice["token"])
        raw.send('42/chat,["message:send",{')
        assert raw.wait_closed(), "the malformed socket stayed open"
        raw.close()
        assert bystander.client.connected
        assert bystander.call("sync", {"cursors": {}})["ok"] is True
    finally:
        bystander.close()
