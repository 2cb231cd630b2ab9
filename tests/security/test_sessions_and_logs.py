"""Revocation reaches live sockets within a second, and logs carry neither
message bodies nor tokens (real server processes)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.support.clients import Device
from tests.support.server import PYTHON, ROOT
from tests.support.services import REDIS_URL, require_redis, scratch_redis_prefix

from .live import PASSWORD, full_log, live_server, register

# serial: disconnects within a second; alone, after the parallel phase (docs/testing.md).
pytestmark = [pytest.mark.e2e, pytest.mark.serial]
DEADLINE = 1.0  # seconds from the revoking call's answer to the socket's disconnect


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("sessions"), CHAT_LOG_LEVEL="DEBUG") as srv:
        yield srv


def _login(server, username: str, device: str) -> dict:
    response = requests.post(server.url + "/api/v1/auth/login",
                             json={"username": username, "password": PASSWORD, "device_name": device}, timeout=10)
    assert response.status_code == 200
    return response.json()


def _disconnected_within(device: Device, started: float) -> float:
    assert device.disconnected.wait(5), "the socket was not disconnected"
    return time.monotonic() - started


def _refused(server, token: str) -> bool:
    late = Device(server.url, token)
    try:
        late.connect()
    except Exception:
        return True
    late.close()
    return False


def test_revoking_a_token_disconnects_its_sockets_within_a_second(server):
    user = register(server.url)
    name = user["user"]["username"]
    phone, laptop = _login(server, name, "phone"), _login(server, name, "laptop")
    phone_ws = Device(server.url, phone["token"]).connect()
    phone_poll = Device(server.url, phone["token"], transport="polling").connect()
    laptop_ws = Device(server.url, laptop["token"]).connect()
    try:
        headers = {"Authorization": f"Bearer {laptop['token']}"}
        tokens = requests.get(server.url + "/api/v1/auth/tokens", headers=headers, timeout=10).json()["tokens"]
        phone_id = next(t["id"] for t in tokens if t["device_name"] == "phone")
        started = time.monotonic()
        response = requests.delete(server.url + f"/api/v1/auth/tokens/{phone_id}", headers=headers, timeout=10)
        assert response.status_code == 204
        for device in (phone_ws, phone_poll):
            elapsed = _disconnected_within(device, started)
            assert elapsed < DEADLINE, f"{device.transport} socket closed after {elapsed:.2f}s"
        time.sleep(0.3)
        assert laptop_ws.client.connected and not laptop_ws.disconnected.is_set()
        assert _refused(server, phone["token"])
    finally:
        for device in (phone_ws, phone_poll, laptop_ws):
            device.close()


def test_logout_disconnects_the_tokens_sockets_within_a_second(server):
    user = register(server.url)
    device = Device(server.url, user["token"]).connect()
    other = Device(server.url, _login(server, user["user"]["username"], "other")["token"]).connect()
    try:
        started = time.monotonic()
        response = requests.post(server.url + "/api/v1/auth/logout",
                                 headers={"Authorization": f"Bearer {user['token']}"}, timeout=10)
        assert response.status_code == 204
        assert _disconnected_within(device, started) < DEADLINE
        time.sleep(0.3)
        assert other.client.connected
    finally:
        device.close()
        other.close()


def test_browser_logout_disconnects_the_cookie_socket(server):
    user = register(server.url)
    browser = requests.Session()
    assert browser.post(server.url + "/api/v1/auth/login",
                        json={"username": user["user"]["username"], "password": PASSWORD}, timeout=10).ok
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    device = Device(server.url, token="")  # no token: the cookie authenticates
    device.client.connect(server.url, namespaces=["/chat"], transports=["polling"], headers={"Cookie": cookie},
                          wait_timeout=10)
    try:
        assert device.ready.wait(5)
        started = time.monotonic()
        response = browser.post(server.url + "/api/v1/auth/logout", headers={"X-Requested-With": "XMLHttpRequest"},
                                timeout=10)
        assert response.status_code == 204
        assert _disconnected_within(device, started) < DEADLINE
    finally:
        device.close()


@pytest.mark.redis
def test_deactivate_command_disconnects_every_socket_of_the_user_within_a_second(tmp_path):
    """``flask chat deactivate`` runs in its own process: the close goes through the message queue."""
    require_redis()
    with scratch_redis_prefix() as prefix:
        env = {"CHAT_REDIS_URL": REDIS_URL, "CHAT_REDIS_PREFIX": prefix}
        with live_server(tmp_path, **env) as srv:
            user = register(srv.url)
            bystander = register(srv.url)
            devices = [Device(srv.url, user["token"]).connect(),
                       Device(srv.url, user["token"], transport="polling").connect()]
            watcher = Device(srv.url, bystander["token"]).connect()
            try:
                cli_env = {**os.environ, **env, "CHAT_DATABASE_URL": srv.database_url, "CHAT_ASYNC_MODE": "threading"}
                command = [PYTHON, "-m", "flask", "--app", "wsgi", "chat", "deactivate", user["user"]["username"]]
                result = subprocess.run(command, cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)
                finished = time.monotonic()
                assert result.returncode == 0, result.stderr
                for device in devices:
                    elapsed = _disconnected_within(device, finished)
                    assert elapsed < DEADLINE, f"{device.transport} socket closed {elapsed:.2f}s after the command"
                assert watcher.client.connected
                assert _refused(srv, user["token"])
                login = requests.post(srv.url + "/api/v1/auth/login",
                                      json={"username": user["user"]["username"], "password": PASSWORD}, timeout=10)
                assert login.status_code == 401
            finally:
                for device in (*devices, watcher):
                    device.close()


def test_logs_carry_neither_bodies_nor_tokens(server):
    marker = f"SECRET-BODY-{uuid.uuid4().hex}"
    user = register(server.url)
    friend = register(server.url)
    token = user["token"]
    headers = {"Authorization": f"Bearer {token}"}
    base = server.url + "/api/v1"
    cid = requests.post(base + "/conversations", json={"type": "group", "name": "logs",
                                                       "member_ids": [friend["user"]["id"]]},
                        headers=headers, timeout=10).json()["conversation"]["id"]
    device = Device(server.url, token).connect()
    polling = Device(server.url, friend["token"], transport="polling").connect()
    try:
        ack = device.call("message:send", {"conversation_id": cid, "body": marker, "client_id": str(uuid.uuid4())})
        assert ack["ok"]
        mid = ack["message"]["id"]
        polling.wait_for("message:new", lambda d: d["message"]["body"] == marker)
        assert requests.post(base + f"/conversations/{cid}/messages", json={"body": marker + "-rest",
                                                                          "client_id": "r1"},
                             headers=headers, timeout=10).status_code == 201
        device.call("message:edit", {"message_id": mid, "body": marker + "-edited"})
        device.call("typing", {"conversation_id": cid, "typing": True})
        device.call("sync", {"cursors": {str(cid): 0}})
        requests.get(base + f"/conversations/{cid}/messages", headers=headers, timeout=10)
        requests.get(base + f"/conversations/{cid}/messages?token={token}", headers=headers, timeout=10)
        device.call("message:send", {"conversation_id": cid, "body": marker, "client_id": 12})  # an error path
        requests.post(base + "/auth/login", json={"username": user["user"]["username"], "password": PASSWORD},
                      timeout=10)
        requests.get(base + "/me", headers={"Authorization": f"Bearer {token}x"}, timeout=10)  # a bad token
        requests.post(base + "/auth/logout", headers=headers, timeout=10)
        time.sleep(0.5)
    finally:
        device.close()
        polling.close()
    log = full_log(server)
    # The session was logged (else this test would prove nothing) ...
    assert f"POST /api/v1/conversations/{cid}/messages -> 201" in log
    assert "event 'message:send' on /chat" in log
    # ... without what must never be written down.
    assert marker not in log
    assert token not in log
    assert friend["token"] not in log
    assert PASSWORD not in log
