"""A burst of sends over HTTP long-polling loses nothing, from any client.

socket.io-client sends every emit of one tick in one POST (an outbox flushed
after a tunnel); python-socketio's client sends what its threads queued
meanwhile. engineio alone decodes at most 16 packets per payload: it answered
such a POST 200 and dropped every packet of it, and a long-poll answer of more
than 16 packets made python-engineio's client drop the connection
(internals.LongPollingSocket). Real server process (eventlet), real clients.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.clients import Device, register
from tests.support.server import ServerProcess, migrate

from .conftest import JS_DIR

pytestmark = pytest.mark.e2e

BURST = 40  # more than the 16 packets engineio decodes from one payload


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    url = f"sqlite:///{tmp_path_factory.mktemp('bursts') / 'chat.db'}"
    migrate(url)
    proc = ServerProcess(url, extra_env={"CHAT_RATE_MESSAGES_BURST": "10000"}).start()
    yield proc
    proc.stop()


@pytest.fixture
def pair(server) -> tuple[dict, dict, int]:
    alice, bob = register(server.url), register(server.url)
    response = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]})
    return alice, bob, response.json()["conversation"]["id"]


def stored_bodies(user: dict, conversation_id: int) -> list[str]:
    page = user["api"].get(f"/conversations/{conversation_id}/messages", params={"limit": 100}).json()
    return [m["body"] for m in page["messages"]]


def assert_whole_burst(alice: dict, bob: dict, conversation_id: int, acks: list[Any], receiver: Device) -> None:
    """Every send acknowledged once with its own seq, stored once, delivered to the recipient."""
    assert all(ack.get("ok") for ack in acks), [a for a in acks if not a.get("ok")][:3]
    assert sorted(ack["message"]["seq"] for ack in acks) == list(range(1, BURST + 1))
    assert sorted(stored_bodies(bob, conversation_id)) == sorted(f"burst {i}" for i in range(BURST))
    ids = {ack["message"]["id"] for ack in acks}
    receiver.wait_for("message:new", lambda _: ids <= {m["message"]["id"] for m in receiver.of("message:new")})
    assert receiver.client.connected


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_node_client_s_burst_is_acknowledged_stored_and_delivered_whole(server, pair, node, transport):
    alice, bob, conversation_id = pair
    receiver = Device(server.url, bob["token"], "polling").connect()  # answers of more than 16 packets
    try:
        run = subprocess.run(
            [node, "burst.mjs", server.url, alice["token"], str(conversation_id), str(BURST), transport],
            cwd=JS_DIR, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        result = json.loads(run.stdout.strip().splitlines()[-1])
        assert result["connected"], result
        assert_whole_burst(alice, bob, conversation_id, result["acks"], receiver)
    finally:
        receiver.close()


def test_concurrent_sends_of_a_python_client_over_polling_are_all_acknowledged(server, pair):
    alice, bob, conversation_id = pair
    sender = Device(server.url, alice["token"], "polling").connect()
    receiver = Device(server.url, bob["token"], "polling").connect()
    payloads = [{"conversation_id": conversation_id, "body": f"burst {i}", "client_id": uuid.uuid4().hex}
                for i in range(BURST)]  # fmt: skip
    try:
        acks = sender.call_all("message:send", payloads)
        assert sender.client.connected, "the client dropped the connection"
        assert_whole_burst(alice, bob, conversation_id, acks, receiver)
    finally:
        sender.close()
        receiver.close()


class RawPolling:
    """An Engine.IO long-polling session spoken by hand, to see each payload as it is."""

    def __init__(self, base_url: str) -> None:
        self.url = base_url + "/socket.io/?EIO=4&transport=polling"
        opening = requests.get(self.url, timeout=5).text
        self.url += "&sid=" + json.loads(opening[1:])["sid"]

    def post(self, *packets: str) -> requests.Response:
        return requests.post(self.url, data="\x1e".join(packets).encode(), timeout=10)

    def get(self) -> requests.Response:
        return requests.get(self.url, timeout=30)

    def answers(self) -> list[str]:
        response = self.get()
        assert response.status_code == 200, response.text
        return response.text.split("\x1e")


def test_one_post_of_forty_sends_gets_forty_acks_in_answers_of_at_most_sixteen(server, pair):
    alice, _bob, conversation_id = pair
    session = RawPolling(server.url)
    assert session.post("40/chat," + json.dumps({"token": alice["token"]})).status_code == 200
    sends = [
        f'42/chat,{i}["message:send",' + json.dumps(
            {"conversation_id": conversation_id, "body": f"burst {i}", "client_id": uuid.uuid4().hex}) + "]"
        for i in range(BURST)
    ]  # fmt: skip
    assert session.post(*sends).status_code == 200
    acks: dict[int, dict] = {}
    lengths = []
    while len(acks) < BURST:
        answer = session.answers()
        lengths.append(len(answer))
        for packet in answer:
            if packet.startswith("43/chat,"):
                ack_id, _, body = packet[len("43/chat,"):].partition("[")
                acks[int(ack_id)] = json.loads("[" + body)[0]
    assert max(lengths) <= 16 and len(lengths) >= 3, lengths
    assert sorted(acks) == list(range(BURST)) and all(a["ok"] for a in acks.values())


@pytest.mark.parametrize("body", [b'42/chat,["typing"]\x1e\x1e\xff', b"4" + b"x" * (64 * 1024)],
                         ids=["no-payload", "over-the-byte-cap"])
def test_a_post_that_is_refused_closes_its_session_at_once(server, pair, body):
    alice, _bob, _conversation_id = pair
    session = RawPolling(server.url)
    assert session.post("40/chat," + json.dumps({"token": alice["token"]})).status_code == 200
    before = len(server.log())
    refused = requests.post(session.url, data=body, timeout=5)  # no long-poll open: answered all the same
    assert refused.status_code == 400
    assert session.get().status_code == 400  # the session is gone: the client reconnects and syncs
    assert "Traceback" not in server.log()[before:]
