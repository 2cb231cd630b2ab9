"""Limits: per-user message rate, per-user connection cap, login throttling per
account-and-address and per address, payload sizes. Each limit answers ``rate_limited``
with ``retry_after`` (REST also ``Retry-After``) or ``payload_too_large``."""

from __future__ import annotations

import uuid

import pytest
import requests
import socketio
from sqlalchemy import func, select

from chatapp.extensions import db
from chatapp.models import Message
from chatapp.services.state import RedisState
from tests.support.clients import Device
from tests.support.services import REDIS_URL, scratch_redis_prefix

from .live import PASSWORD, live_server, register

BURST = 5
LOGIN_BURST = 3
MAX_CONNECTIONS = 2

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {
        "CHAT_RATE_MESSAGES_BURST": str(BURST), "CHAT_RATE_MESSAGES_PER_SECOND": "0.2",
        "CHAT_RATE_LOGIN_BURST": str(LOGIN_BURST), "CHAT_RATE_LOGIN_PER_SECOND": "0.05",
        "CHAT_MAX_CONNECTIONS_PER_USER": str(MAX_CONNECTIONS),
        # The tests stand for a proxy: they name the client's address in X-Forwarded-For.
        "CHAT_TRUSTED_PROXIES": "1",
    }
    with live_server(tmp_path_factory.mktemp("limits"), **env) as srv:
        yield srv


def _group(server, user) -> int:
    response = requests.post(server.url + "/api/v1/conversations",
                             json={"type": "group", "name": "g", "member_ids": []},
                             headers={"Authorization": f"Bearer {user['token']}"}, timeout=10)
    assert response.status_code == 201
    return response.json()["conversation"]["id"]


def _history(server, user, cid) -> list:
    response = requests.get(server.url + f"/api/v1/conversations/{cid}/messages",
                            headers={"Authorization": f"Bearer {user['token']}"}, timeout=10)
    return response.json()["messages"]


def _assert_rate_limited_response(response) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["retry_after"] >= 1
    assert int(response.headers["Retry-After"]) == error["retry_after"]


def test_message_rate_over_rest(server):
    user = register(server.url)
    cid = _group(server, user)
    headers = {"Authorization": f"Bearer {user['token']}"}
    url = server.url + f"/api/v1/conversations/{cid}/messages"
    for i in range(BURST):
        sent = requests.post(url, json={"body": f"m{i}", "client_id": f"c{i}"}, headers=headers, timeout=10)
        assert sent.status_code == 201
    _assert_rate_limited_response(requests.post(url, json={"body": "over", "client_id": "over"}, headers=headers,
                                                timeout=10))
    assert len(_history(server, user, cid)) == BURST  # the refused one was not stored
    # A resend of an already stored client_id is not a new message: answered, not limited.
    again = requests.post(url, json={"body": "m0", "client_id": "c0"}, headers=headers, timeout=10)
    assert again.status_code == 200


def test_message_rate_over_the_socket_is_per_user_across_devices(server):
    user = register(server.url)
    cid = _group(server, user)
    phone = Device(server.url, user["token"]).connect()
    laptop = Device(server.url, user["token"], transport="polling").connect()
    try:
        acks = [(phone if i % 2 else laptop).call("message:send", {"conversation_id": cid, "body": f"m{i}",
                                                                    "client_id": str(uuid.uuid4())})
                for i in range(BURST + 2)]
        assert [a["ok"] for a in acks] == [True] * BURST + [False, False]
        for ack in acks[BURST:]:
            assert ack["error"]["code"] == "rate_limited" and ack["error"]["retry_after"] >= 1
        assert len(_history(server, user, cid)) == BURST
        # Another user is not affected by this one's bucket.
        other = register(server.url)
        sent = requests.post(server.url + f"/api/v1/conversations/{_group(server, other)}/messages",
                             json={"body": "hi", "client_id": "x"},
                             headers={"Authorization": f"Bearer {other['token']}"}, timeout=10)
        assert sent.status_code == 201
    finally:
        phone.close()
        laptop.close()


def test_connection_cap_per_user(server):
    user = register(server.url)
    devices = [Device(server.url, user["token"]).connect() for _ in range(MAX_CONNECTIONS)]
    try:
        extra = Device(server.url, user["token"])
        refusal = []
        extra.client.on("connect_error", lambda data=None: refusal.append(data), namespace="/chat")
        with pytest.raises(socketio.exceptions.ConnectionError):
            extra.connect()
        data = refusal[0].get("data", refusal[0])
        assert data["code"] == "rate_limited" and data["retry_after"] >= 1
        # Closing one frees a slot.
        devices.pop().close()
        devices.append(_connect_eventually(server.url, user["token"]))
    finally:
        for device in devices:
            device.close()


def _connect_eventually(url: str, token: str, timeout: float = 5) -> Device:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return Device(url, token).connect()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _login(server, username, password, ip):
    return requests.post(server.url + "/api/v1/auth/login", json={"username": username, "password": password},
                         headers={"X-Forwarded-For": ip}, timeout=10)


def test_login_throttle_per_account_and_address(server):
    user = register(server.url)
    name = user["user"]["username"]
    for _ in range(LOGIN_BURST):
        assert _login(server, name, "wrong password", "10.0.0.1").status_code == 401
    # That address's bucket for this account is empty: even the right password waits there.
    _assert_rate_limited_response(_login(server, name, PASSWORD, "10.0.0.1"))
    # Never per account alone (issue 11): the owner, from another address, is not locked out.
    assert _login(server, name, PASSWORD, "10.0.0.2").status_code == 200
    # Other accounts log in normally.
    other = register(server.url)
    assert _login(server, other["user"]["username"], PASSWORD, "10.0.0.3").status_code == 200


def test_login_throttle_per_address(server):
    ip = "10.9.9.9"
    per_ip = LOGIN_BURST * 5  # services/ratelimit.py: the address bucket is 5x (shared NATs)
    for i in range(per_ip):
        assert _login(server, f"nobody{i}", "wrong password", ip).status_code == 401
    _assert_rate_limited_response(_login(server, "nobody-else", "wrong password", ip))
    # Another address is unaffected.
    assert _login(server, "nobody-else", "wrong password", "10.9.9.10").status_code == 401


def test_payload_sizes(server):
    user = register(server.url)
    cid = _group(server, user)
    headers = {"Authorization": f"Bearer {user['token']}", "Content-Type": "application/json"}
    url = server.url + f"/api/v1/conversations/{cid}/messages"
    huge = '{"body": "' + "a" * (64 * 1024) + '", "client_id": "big"}'
    response = requests.post(url, data=huge, headers=headers, timeout=10)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    too_long = requests.post(url, json={"body": "b" * 4001, "client_id": "long"}, headers=headers, timeout=10)
    assert too_long.status_code == 400 and too_long.json()["error"]["fields"]["body"]
    device = Device(server.url, user["token"]).connect()
    try:
        ack = device.call("message:send", {"conversation_id": cid, "body": "c" * 4001, "client_id": "long"})
        assert ack["error"]["code"] == "validation_error"
    finally:
        device.close()
    assert _history(server, user, cid) == []


@pytest.mark.redis
def test_message_rate_is_shared_through_redis(app, make_user, client, auth_headers):
    """In a cluster the bucket lives in Redis (services/state.py): what one worker spends, another sees."""
    with scratch_redis_prefix() as prefix:
        app.config.update(RATE_MESSAGES_BURST=3, RATE_MESSAGES_PER_SECOND=0.1)
        app.extensions["chat.state"] = RedisState(REDIS_URL, prefix)
        user, token = make_user()
        cid = client.post("/api/v1/conversations", json={"type": "group", "name": "r", "member_ids": []},
                          headers=auth_headers(token)).json["conversation"]["id"]
        codes = [client.post(f"/api/v1/conversations/{cid}/messages", json={"body": "x", "client_id": str(i)},
                             headers=auth_headers(token)).status_code for i in range(4)]
        assert codes == [201, 201, 201, 429]
        # A second worker's view of the same bucket: empty too.
        other_worker = RedisState(REDIS_URL, prefix)
        assert other_worker.take_token(f"msg:{user.id}", 3, 0.1) > 0
        assert other_worker.redis.exists(f"{prefix}:bucket:msg:{user.id}")
        assert db.session.scalar(select(func.count()).select_from(Message)) == 3
        other_worker.redis.close()
