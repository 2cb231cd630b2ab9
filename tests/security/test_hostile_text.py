"""Text the databases refuse, invisible text and deep nesting (issue 11, classes 1 and 2).

Against real server processes on SQLite and on PostgreSQL. Before the fix a
NUL answered 500 with a traceback on PostgreSQL, a lone surrogate 500 (REST)
or ``internal`` (socket) on both, a zero-width body was stored as a message,
a REST body 1,500 levels deep answered 500 and a socket packet 1,100 levels
deep got no ack at all. Now each is ``validation_error`` (with ``fields`` for
a field) and nothing is stored.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from .live import DATABASES, RawSocket, count_rows, live_server, register

pytestmark = pytest.mark.e2e

NUL = "\u0000"
SURROGATE = "\ud800"  # sent as the JSON escape "\ud800" (json.dumps escapes it)
INVISIBLE = "\u200b\u2060\ufeff"
TABLES = ("users", "api_tokens", "conversations", "memberships", "messages", "reactions")


@pytest.fixture(scope="module", params=DATABASES)
def world(request, tmp_path_factory):
    with live_server(tmp_path_factory.mktemp(f"text-{request.param}"), database=request.param) as server:
        alice, bob = register(server.url), register(server.url)
        headers = {"Authorization": f"Bearer {alice['token']}"}
        base = server.url + "/api/v1"
        group = requests.post(base + "/conversations", headers=headers, timeout=10, json={
            "type": "group", "name": "g", "member_ids": [bob["user"]["id"]]}).json()["conversation"]["id"]
        message = requests.post(f"{base}/conversations/{group}/messages", headers=headers, timeout=10,
                                json={"body": "hello", "client_id": "first"}).json()["message"]["id"]
        yield {"server": server, "base": base, "headers": headers, "alice": alice, "group": group,
               "message": message}
        assert "Traceback" not in server.log()


def _counts(server) -> dict[str, int]:
    return {table: count_rows(server, table) for table in TABLES}


def _rest_cases(bad: str, world: dict) -> list[tuple[str, str, dict | None, str]]:
    """(method, path, JSON body, the field that must be named) for every string input."""
    g, m, name = world["group"], world["message"], world["alice"]["user"]["username"]
    return [
        ("POST", f"/conversations/{g}/messages", {"body": f"hi{bad}", "client_id": str(uuid.uuid4())}, "body"),
        ("POST", f"/conversations/{g}/messages", {"body": "hi", "client_id": f"c{bad}"}, "client_id"),
        ("PATCH", f"/messages/{m}", {"body": f"edited{bad}"}, "body"),
        ("POST", f"/messages/{m}/reactions", {"emoji": f"👍{bad}"}, "emoji"),
        ("POST", "/conversations", {"type": "group", "name": f"n{bad}", "member_ids": []}, "name"),
        ("PATCH", f"/conversations/{g}", {"name": f"n{bad}"}, "name"),
        ("POST", "/auth/register", {"username": f"new{uuid.uuid4().hex[:8]}", "password": "correct horse",
                                    "display_name": f"D{bad}"}, "display_name"),
        ("POST", "/auth/register", {"username": f"new{uuid.uuid4().hex[:8]}", "password": "correct horse",
                                    "device_name": f"phone{bad}"}, "device_name"),
        ("POST", "/auth/login", {"username": f"{name}{bad}", "password": "correct horse"}, "username"),
        ("POST", "/auth/login", {"username": name, "password": "correct horse", "device_name": f"p{bad}"},
         "device_name"),
        ("POST", "/auth/login", {"username": name, "password": f"correct horse{bad}"}, "password"),
    ]


def _assert_refused(response: requests.Response, field: str | None) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["code"] == "validation_error", error
    if field is not None:
        assert field in error.get("fields", {}), error


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_unstorable_characters_in_any_rest_string_are_validation_errors(world, bad):
    server, before = world["server"], _counts(world["server"])
    for method, path, body, field in _rest_cases(bad, world):
        # json.dumps escapes the surrogate as "\ud800", as any JSON client would.
        response = requests.request(method, world["base"] + path, timeout=10, data=json.dumps(body),
                                    headers={**world["headers"], "Content-Type": "application/json"})
        _assert_refused(response, field)
    assert _counts(server) == before


def test_nul_in_query_strings_and_path_parts_is_a_validation_error(world):
    server, before = world["server"], _counts(world["server"])
    for path, field in [("/users?q=a%00b", "q"), ("/rooms?q=%00", "q"),
                        (f"/messages/{world['message']}/reactions/%F0%9F%91%8D%00", "emoji"),
                        (f"/conversations/{world['group']}/messages?before=%00", "before")]:
        method = "DELETE" if "/reactions/" in path else "GET"
        response = requests.request(method, world["base"] + path, headers=world["headers"], timeout=10)
        _assert_refused(response, field)
    assert _counts(server) == before


def test_text_made_only_of_invisible_characters_is_empty(world):
    server, before = world["server"], _counts(world["server"])
    g = world["group"]
    for method, path, body, field in [
        ("POST", f"/conversations/{g}/messages", {"body": INVISIBLE, "client_id": "zw"}, "body"),
        ("POST", f"/conversations/{g}/messages", {"body": " \u200b \u3164 \u00a0", "client_id": "zw2"}, "body"),
        ("PATCH", f"/messages/{world['message']}", {"body": "\u2060"}, "body"),
        ("POST", "/conversations", {"type": "group", "name": "\u200b\u200b", "member_ids": []}, "name"),
        ("POST", "/auth/register", {"username": f"zw{uuid.uuid4().hex[:8]}", "password": "correct horse",
                                    "display_name": "\ufeff"}, "display_name"),
    ]:
        response = requests.request(method, world["base"] + path, json=body, headers=world["headers"], timeout=10)
        _assert_refused(response, field)
    assert _counts(server) == before
    # Invisible characters inside visible text are text (emoji sequences use joiners).
    kept = requests.post(world["base"] + f"/conversations/{g}/messages", headers=world["headers"], timeout=10,
                         json={"body": "\u200bhi 👩\u200d💻", "client_id": str(uuid.uuid4())})
    assert kept.status_code == 201, kept.text
    assert kept.json()["message"]["body"] == "\u200bhi 👩\u200d💻"


def _deep(levels: int) -> str:  # 30,000 levels: 60 KB, under the 64 KiB payload limit
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [33, 1500, 30_000])
def test_a_deeply_nested_rest_body_is_a_validation_error(world, levels):
    server, before = world["server"], _counts(world["server"])
    raw = '{"body": "x", "client_id": "deep", "extra": ' + _deep(levels) + "}"
    response = requests.post(world["base"] + f"/conversations/{world['group']}/messages", data=raw, timeout=10,
                             headers={**world["headers"], "Content-Type": "application/json"})
    _assert_refused(response, None)
    assert "nested deeper" in response.json()["error"]["message"]
    assert _counts(server) == before


class ChatSocket:
    """A raw /chat socket that sends exact packet text and waits for a given ack."""

    def __init__(self, world: dict) -> None:
        self.raw = RawSocket(world["server"].url)
        self.raw.connect_chat(world["alice"]["token"])
        self.next_id = 1

    def call_raw(self, event: str, payload_json: str, timeout: float = 5) -> dict:
        ack_id, self.next_id = self.next_id, self.next_id + 1
        self.raw.ws.settimeout(timeout)
        self.raw.send(f'42/chat,{ack_id}["{event}",{payload_json}]')
        prefix = f"43/chat,{ack_id}"
        while True:  # other packets (ready, message:new, ...) may come first
            packet = self.raw.recv_packet()
            if packet.startswith(prefix):
                return json.loads(packet[len(prefix):])[0]

    def call(self, event: str, payload: dict) -> dict:
        return self.call_raw(event, json.dumps(payload))


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_unstorable_characters_in_socket_payloads_are_validation_errors(world, bad):
    server, before = world["server"], _counts(world["server"])
    g, m = world["group"], world["message"]
    sock = ChatSocket(world)
    try:
        for event, payload, field in [
            ("message:send", {"conversation_id": g, "body": f"x{bad}", "client_id": str(uuid.uuid4())}, "body"),
            ("message:send", {"conversation_id": g, "body": "x", "client_id": f"c{bad}"}, "client_id"),
            ("message:edit", {"message_id": m, "body": f"x{bad}"}, "body"),
            ("message:react", {"message_id": m, "emoji": f"👍{bad}"}, "emoji"),
            ("message:unreact", {"message_id": m, "emoji": bad}, "emoji"),
        ]:
            ack = sock.call(event, payload)
            assert ack["ok"] is False and ack["error"]["code"] == "validation_error", (event, ack)
            assert field in ack["error"]["fields"], (event, ack)
        ack = sock.call("message:send", {"conversation_id": g, "body": INVISIBLE, "client_id": "zw-socket"})
        assert ack["error"]["code"] == "validation_error" and "body" in ack["error"]["fields"], ack
        assert _counts(server) == before
        # The socket still works.
        assert sock.call("message:send", {"conversation_id": g, "body": "fine", "client_id": str(uuid.uuid4())})["ok"]
    finally:
        sock.raw.close()


@pytest.mark.parametrize("levels", [33, 1100, 30_000])
def test_a_deeply_nested_socket_event_gets_an_error_ack(world, levels):
    server, before = world["server"], _counts(world["server"])
    sock = ChatSocket(world)
    try:
        fields = f'"conversation_id": {world["group"]}, "body": "x", "client_id": "deep"'
        payload = "{" + fields + ", \"extra\": " + _deep(levels) + "}"
        ack = sock.call_raw("message:send", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "validation_error", ack
        assert "nested deeper" in ack["error"]["message"]
        assert _counts(server) == before
        # Nothing else happened to the connection: a normal send is acknowledged.
        assert sock.call("message:send", {"conversation_id": world["group"], "body": "after",
                                          "client_id": str(uuid.uuid4())})["ok"] is True
    finally:
        sock.raw.close()


def test_a_deeply_nested_socket_event_without_an_ack_id_closes_the_socket(world):
    """No ack id: nobody would read an ack, so the socket is closed (never silence)."""
    before = _counts(world["server"])
    sock = ChatSocket(world)
    try:
        sock.raw.send('42/chat,["message:send",' + _deep(1100) + "]")
        assert sock.raw.wait_closed(timeout=10)
    finally:
        sock.raw.close()
    assert _counts(world["server"]) == before


@pytest.mark.parametrize("token", [SURROGATE, f"a{NUL}b", INVISIBLE])
def test_an_unstorable_connect_token_is_an_unauthorized_connect_error(world, token):
    """A lone surrogate in the connect token closed the socket without a connect_error (it could not be hashed)."""
    raw = RawSocket(world["server"].url)
    try:
        raw.send("40/chat," + json.dumps({"token": token}))
        reply = raw.recv_packet()
        assert reply.startswith("44/chat,"), reply
        assert json.loads(reply[len("44/chat,"):])["data"]["code"] == "unauthorized"
    finally:
        raw.close()
