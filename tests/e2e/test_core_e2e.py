"""The core, end to end: the real server (`python wsgi.py`, eventlet, a
migrated SQLite file) and python-socketio's real client over WebSocket and
over HTTP long-polling alone.

Two users, two devices for one of them: a direct message each way reaches
every device of every member (the sending socket included), history over
REST agrees, a resend is idempotent, a bad token is refused with the
envelope, and logout disconnects exactly the sockets opened with that token.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
import socketio

from tests.support.clients import NAMESPACE, Device, register
from tests.support.server import ServerProcess, migrate

pytestmark = pytest.mark.e2e

TRANSPORTS = ["websocket", "polling"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('core-e2e') / 'chat.db'}"
    migrate(url)
    process = ServerProcess(url, async_mode="eventlet").start()
    yield process
    process.stop()


@pytest.fixture
def devices():
    opened: list[Device] = []

    def open_device(base_url: str, token: str, transport: str) -> Device:
        device = Device(base_url, token, transport=transport).connect()
        opened.append(device)
        return device

    yield open_device
    for device in opened:
        device.close()


def login(base_url: str, username: str, device_name: str) -> str:
    response = requests.post(
        base_url + "/api/v1/auth/login",
        json={"username": username, "password": "correct horse", "device_name": device_name},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


@pytest.fixture
def pair(server):
    """alice (phone and laptop) and bob (one device), and their direct conversation."""
    alice = register(server.url)
    bob = register(server.url)
    alice["laptop_token"] = login(server.url, alice["user"]["username"], "laptop")
    created = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]})
    assert created.status_code == 201, created.text
    return alice, bob, created.json()["conversation"]["id"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_direct_messages_reach_every_device_of_every_member(server, pair, devices, transport):
    alice, bob, dm = pair
    phone = devices(server.url, alice["token"], transport)
    laptop = devices(server.url, alice["laptop_token"], transport)
    bobs = devices(server.url, bob["token"], transport)
    assert phone.client.transport() == transport

    ready = bobs.of("ready")[0]
    assert ready["user"]["id"] == bob["user"]["id"]
    # version 1: the conversation's creation is its first change.
    assert ready["conversations"] == [{"id": dm, "last_seq": 0, "version": 1, "last_read_seq": 0, "unread_count": 0,
                                     "unread_mentions": 0}]

    sent = phone.call("message:send", {"conversation_id": dm, "body": "hi bob", "client_id": "a-1"})
    assert sent["ok"] is True
    for device in (phone, laptop, bobs):
        assert device.wait_for("message:new", lambda e: e["message"]["id"] == sent["message"]["id"]) == {
            "message": sent["message"]
        }

    reply = bobs.call("message:send", {"conversation_id": dm, "body": "hi alice", "client_id": "b-1"})
    assert reply["ok"] is True and reply["message"]["seq"] == 2
    for device in (phone, laptop, bobs):
        device.wait_for("message:new", lambda e: e["message"]["id"] == reply["message"]["id"])

    history = bob["api"].get(f"/conversations/{dm}/messages")
    assert history.status_code == 200
    body = history.json()
    assert [(m["seq"], m["sender_id"], m["body"]) for m in body["messages"]] == [
        (1, alice["user"]["id"], "hi bob"),
        (2, bob["user"]["id"], "hi alice"),
    ]
    assert body["has_more"] is False
    assert body["messages"] == [sent["message"], reply["message"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_resending_a_client_id_returns_the_original_and_no_second_event(server, pair, devices, transport):
    alice, bob, dm = pair
    phone = devices(server.url, alice["token"], transport)
    bobs = devices(server.url, bob["token"], transport)
    payload = {"conversation_id": dm, "body": "only once", "client_id": "retry-1"}
    first = phone.call("message:send", payload)
    bobs.wait_for("message:new", lambda e: e["message"]["id"] == first["message"]["id"])
    # The client did not see the ack (say) and retries, over the socket and over REST.
    again = phone.call("message:send", payload)
    over_rest = alice["api"].post(f"/conversations/{dm}/messages", json={"body": "only once", "client_id": "retry-1"})
    assert again == first
    assert over_rest.status_code == 200 and over_rest.json()["message"] == first["message"]
    marker = phone.call("message:send", {"conversation_id": dm, "body": "marker", "client_id": "retry-2"})
    # Events arrive in order: once the marker is here, a duplicate would have been too.
    bobs.wait_for("message:new", lambda e: e["message"]["id"] == marker["message"]["id"])
    assert [e["message"]["id"] for e in bobs.of("message:new")] == [first["message"]["id"], marker["message"]["id"]]
    history = alice["api"].get(f"/conversations/{dm}/messages").json()["messages"]
    assert [m["seq"] for m in history] == [1, 2]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("auth", [{"token": "not-a-token"}, {}], ids=["bad-token", "no-token"])
def test_a_refused_connection_carries_the_unauthorized_envelope(server, transport, auth):
    client = socketio.Client(reconnection=False)
    errors: list = []
    arrived = threading.Event()

    def on_connect_error(data=None):
        errors.append(data)
        arrived.set()

    client.on("connect_error", on_connect_error, namespace=NAMESPACE)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, namespaces=[NAMESPACE], auth=auth, transports=[transport], wait_timeout=5)
    assert arrived.wait(5)
    client.disconnect()
    # The CONNECT_ERROR packet's data: {message, data: {code, message}};
    # socket.io-client turns it into err.message and err.data (err.data.code).
    [data] = errors
    assert data["data"]["code"] == "unauthorized"
    assert data["data"]["message"] and data["message"] == data["data"]["message"]


@pytest.mark.serial  # disconnected within 1 s: alone, after the parallel phase
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logout_disconnects_the_sockets_of_that_token_only(server, pair, devices, transport):
    alice, bob, dm = pair
    phone = devices(server.url, alice["token"], transport)
    laptop = devices(server.url, alice["laptop_token"], transport)
    started = time.monotonic()
    response = alice["api"].post("/auth/logout")
    assert response.status_code == 204
    assert phone.disconnected.wait(1.0), "the socket of the revoked token is still connected after 1 s"
    assert time.monotonic() - started < 1.5
    # The other device, with its own token, stays connected and working.
    assert laptop.client.connected and not laptop.disconnected.is_set()
    sent = laptop.call("message:send", {"conversation_id": dm, "body": "still here", "client_id": "l-1"})
    assert sent["ok"] is True
    # The revoked token works nowhere any more.
    assert alice["api"].get("/me").status_code == 401
    with pytest.raises(socketio.exceptions.ConnectionError):
        Device(server.url, alice["token"], transport=transport).connect(wait_ready=False)


def test_healthz_of_the_real_server(server):
    body = requests.get(server.url + "/healthz", timeout=5).json()
    assert (body["status"], body["db"], body["message_queue"]) == ("ok", "ok", "disabled")


# After the server refuses an oversized polling POST (413), python-socketio's
# client leaves that HTTP connection for the garbage collector: its warning is
# about the client library, not about the server under test.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_oversized_socket_payload_stores_nothing_and_a_new_connection_works(server, pair, devices, transport):
    alice, bob, dm = pair
    phone = devices(server.url, alice["token"], transport)
    payload = {"conversation_id": dm, "body": "x" * (70 * 1024), "client_id": "huge"}
    try:
        answer = phone.call("message:send", payload, timeout=3)
    except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
        answer = None  # the server closed the connection: allowed by the contract
    phone.close()
    if phone.client.eio.http is not None:
        phone.client.eio.http.close()  # the client leaves its polling session open after a 413
    if answer is not None:
        assert answer["ok"] is False and answer["error"]["code"] in ("payload_too_large", "validation_error")
    assert alice["api"].get(f"/conversations/{dm}/messages").json()["messages"] == []
    fresh = devices(server.url, alice["token"], transport)
    assert fresh.call("message:send", {"conversation_id": dm, "body": "small", "client_id": "s"})["ok"] is True
