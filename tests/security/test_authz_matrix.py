"""Authorization matrix: every principal x every /chat event (over WebSocket and
long-polling) and every conversation/message endpoint, on a real server.

The outcome of each cell must equal the table below. Every denied attempt
must leave the database exactly as it was (all rows of the chat tables are
compared) and must not be broadcast: a spy client that is a member of the
group hears nothing after it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid

import pytest
import requests

from tests.support.clients import Device

from .live import PASSWORD, live_server, register

pytestmark = pytest.mark.e2e

XRW = {"X-Requested-With": "XMLHttpRequest"}
SILENCE = 0.25  # seconds the spy listens after a denied attempt
UNAUTHENTICATED = ("anonymous", "revoked_bearer", "logged_out_cookie")
PRINCIPALS = (*UNAUTHENTICATED, "non_member", "member", "member_cookie", "admin", "owner")
EVENTS = ("send", "edit", "delete", "react", "unreact", "typing", "read", "delivered", "sync")
ENDPOINTS = ("get", "history", "send", "edit", "delete", "react", "unreact", "read", "delivered", "rename",
             "add_member", "set_role", "remove_member", "report")

# ---------------------------------------------------------------- the expected table
# The target is a private group created by "owner", with "admin", "member" and the spy;
# the target message was sent by the owner. "ok-empty": allowed, but nothing is revealed.
_MEMBER_SOCKET = {"send": "ok", "edit": "forbidden", "delete": "forbidden", "react": "ok", "unreact": "ok",
                  "typing": "ok", "read": "ok", "delivered": "ok", "sync": "ok"}
EXPECTED_SOCKET = {
    **{p: dict.fromkeys(EVENTS, "unauthorized") for p in UNAUTHENTICATED},  # the connection itself is refused
    "non_member": {**dict.fromkeys(EVENTS, "not_found"), "sync": "ok-empty"},
    "member": _MEMBER_SOCKET,
    "member_cookie": _MEMBER_SOCKET,
    "admin": {**_MEMBER_SOCKET, "delete": "ok"},
    "owner": dict.fromkeys(EVENTS, "ok"),
}
_MEMBER_REST = {"get": "ok", "history": "ok", "send": "ok", "edit": "forbidden", "delete": "forbidden", "react": "ok",
                "unreact": "ok", "read": "ok", "delivered": "ok", "rename": "forbidden", "add_member": "forbidden",
                "set_role": "forbidden", "remove_member": "forbidden", "report": "ok"}
EXPECTED_REST = {
    **{p: dict.fromkeys(ENDPOINTS, "unauthorized") for p in UNAUTHENTICATED},
    "non_member": dict.fromkeys(ENDPOINTS, "not_found"),
    "member": _MEMBER_REST,
    "member_cookie": _MEMBER_REST,
    "admin": {**_MEMBER_REST, "delete": "ok", "rename": "ok", "add_member": "ok", "remove_member": "ok"},
    "owner": dict.fromkeys(ENDPOINTS, "ok"),
}


class World:
    """The server, the users, the group, and a way to read every row."""

    def __init__(self, server, db_path) -> None:
        self.server = server
        self.base = server.url + "/api/v1"
        self.db_path = db_path
        self.users = {name: register(server.url) for name in ("owner", "admin", "member", "spy", "outsider", "victim",
                                                              "newcomer")}
        owner = self.api("owner")
        ids = [self.uid(n) for n in ("admin", "member", "spy", "victim")]
        self.cid = owner.post(self.base + "/conversations", json={"type": "group", "name": "target",
                                                                   "member_ids": ids}).json()["conversation"]["id"]
        assert owner.patch(self.base + f"/conversations/{self.cid}/members/{self.uid('admin')}",
                           json={"role": "admin"}).status_code == 200
        self.spy = Device(server.url, self.users["spy"]["token"]).connect()
        self.credentials = self._credentials()

    def uid(self, name: str) -> int:
        return self.users[name]["user"]["id"]

    def api(self, name: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.users[name]['token']}"
        return session

    def _login(self, name: str) -> requests.Session:
        session = requests.Session()
        response = session.post(self.base + "/auth/login",
                                json={"username": self.users[name]["user"]["username"], "password": PASSWORD})
        assert response.status_code == 200
        return session

    def _credentials(self) -> dict:
        """principal -> (REST session, socket auth, socket cookie)."""
        revoked = self._login("member")
        revoked_token = revoked.post(self.base + "/auth/login", json={
            "username": self.users["member"]["user"]["username"], "password": PASSWORD}).json()["token"]
        assert requests.post(self.base + "/auth/logout", headers={"Authorization": f"Bearer {revoked_token}"}).ok
        revoked_api = requests.Session()
        revoked_api.headers["Authorization"] = f"Bearer {revoked_token}"
        logged_out = self._login("member")
        stale_cookie = "; ".join(f"{c.name}={c.value}" for c in logged_out.cookies)
        assert logged_out.post(self.base + "/auth/logout", headers=XRW).status_code == 204
        logged_out.cookies.clear()
        logged_out.headers["Cookie"] = stale_cookie
        logged_out.headers.update(XRW)
        cookie_session = self._login("member")
        cookie = "; ".join(f"{c.name}={c.value}" for c in cookie_session.cookies)
        cookie_session.headers.update(XRW)

        def bearer(name):
            return self.api(name), {"token": self.users[name]["token"]}, None

        return {
            "anonymous": (requests.Session(), None, None),
            "revoked_bearer": (revoked_api, {"token": revoked_token}, None),
            "logged_out_cookie": (logged_out, None, stale_cookie),
            "non_member": bearer("outsider"),
            "member": bearer("member"),
            "member_cookie": (cookie_session, None, cookie),
            "admin": bearer("admin"),
            "owner": bearer("owner"),
        }

    # ------------------------------------------------------------ state

    def snapshot(self) -> dict:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            # users.last_seen_at is left out: presence writes it when any socket closes.
            tables = {"users": "id, username, display_name, password_hash, active", "conversations": "*",
                      "memberships": "*", "messages": "*", "reactions": "*", "api_tokens": "id, user_id, revoked_at",
                      "reports": "*"}
            return {table: sorted(map(tuple, conn.execute(f"SELECT {columns} FROM {table}")))
                    for table, columns in tables.items()}
        finally:
            conn.close()

    def settle(self) -> None:
        """Let earlier, allowed actions finish broadcasting, then forget what the spy heard."""
        time.sleep(0.1)
        self.spy.clear()

    def target_message(self, action: str) -> int:
        """The owner's target message, fresh after an allowed action used it up, with the
        preconditions the action needs (a reaction to remove, a member to remove or add)."""
        owner = self.api("owner")
        if getattr(self, "_mid", None) is None:
            response = owner.post(self.base + f"/conversations/{self.cid}/messages",
                                  json={"body": "target", "client_id": str(uuid.uuid4())})
            assert response.status_code == 201, response.text
            self._mid = response.json()["message"]["id"]
        if action == "unreact":
            for name in ("member", "admin", "owner"):
                self.api(name).post(self.base + f"/messages/{self._mid}/reactions", json={"emoji": "👍"})
        if action == "remove_member":
            owner.post(self.base + f"/conversations/{self.cid}/members", json={"user_id": self.uid("victim")})
        if action == "add_member":
            owner.delete(self.base + f"/conversations/{self.cid}/members/{self.uid('newcomer')}")
        self.settle()
        return self._mid

    def spent(self, action: str) -> None:
        if action in ("edit", "delete", "react", "unreact"):
            self._mid = None
        self.settle()


def _open(world: World, principal: str, transport: str) -> Device | str:
    """A connected device for the principal, or the code its connection was refused with."""
    _api, auth, cookie = world.credentials[principal]
    device = Device(world.server.url, token="", transport=transport)
    refusal: list = []
    device.client.on("connect_error", lambda data=None: refusal.append(data), namespace="/chat")
    try:
        device.client.connect(world.server.url, namespaces=["/chat"], transports=[transport], auth=auth,
                              headers={"Cookie": cookie} if cookie else {}, wait_timeout=5)
    except Exception:
        data = refusal[0] if refusal else {}
        data = data.get("data", data) if isinstance(data, dict) else {}
        return data.get("code", "refused")
    assert device.ready.wait(5)
    return device


def _socket_outcome(world: World, device: Device, event: str, mid: int) -> str:
    payloads = {
        "send": ("message:send", {"conversation_id": world.cid, "body": "x", "client_id": str(uuid.uuid4())}),
        "edit": ("message:edit", {"message_id": mid, "body": f"edited {uuid.uuid4().hex[:6]}"}),
        "delete": ("message:delete", {"message_id": mid}),
        "react": ("message:react", {"message_id": mid, "emoji": "🎉"}),
        "unreact": ("message:unreact", {"message_id": mid, "emoji": "👍"}),
        "typing": ("typing", {"conversation_id": world.cid, "typing": True}),
        "read": ("read", {"conversation_id": world.cid, "seq": 1}),
        "delivered": ("delivered", {"conversation_id": world.cid, "seq": 1}),
        "sync": ("sync", {"cursors": {str(world.cid): 0}}),
    }
    name, payload = payloads[event]
    ack = device.call(name, payload)
    if ack["ok"]:
        return "ok-empty" if event == "sync" and not ack["messages"] else "ok"
    return ack["error"]["code"]


def _rest_outcome(world: World, principal: str, endpoint: str, mid: int) -> str:
    api = world.credentials[principal][0]
    c, b = world.cid, world.base
    calls = {
        "get": ("GET", f"/conversations/{c}", None),
        "history": ("GET", f"/conversations/{c}/messages", None),
        "send": ("POST", f"/conversations/{c}/messages", {"body": "x", "client_id": str(uuid.uuid4())}),
        "edit": ("PATCH", f"/messages/{mid}", {"body": "edited"}),
        "delete": ("DELETE", f"/messages/{mid}", None),
        "react": ("POST", f"/messages/{mid}/reactions", {"emoji": "🎉"}),
        "unreact": ("DELETE", f"/messages/{mid}/reactions/%F0%9F%91%8D", None),
        "read": ("POST", f"/conversations/{c}/read", {"seq": 1}),
        "delivered": ("POST", f"/conversations/{c}/delivered", {"seq": 1}),
        "rename": ("PATCH", f"/conversations/{c}", {"name": f"renamed {uuid.uuid4().hex[:6]}"}),
        "add_member": ("POST", f"/conversations/{c}/members", {"user_id": world.uid("newcomer")}),
        "set_role": ("PATCH", f"/conversations/{c}/members/{world.uid('spy')}", {"role": "member"}),
        "remove_member": ("DELETE", f"/conversations/{c}/members/{world.uid('victim')}", None),
        "report": ("POST", f"/messages/{mid}/report", {"reason": "matrix"}),
    }
    method, path, body = calls[endpoint]
    response = api.request(method, b + path, json=body, timeout=10)
    if response.status_code < 300:
        return "ok"
    return response.json()["error"]["code"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("authz")
    with live_server(tmp, CHAT_RATE_MESSAGES_BURST="1000000", CHAT_TYPING_THROTTLE_SECONDS="0") as server:
        w = World(server, tmp / "chat.db")
        yield w
        w.spy.close()


def _check_denial_left_no_trace(world: World, before: dict, cell: str, leaks: list) -> None:
    time.sleep(SILENCE)
    # Presence follows the matrix's own connections (made on purpose for each principal),
    # not the attempted action; everything else the spy hears would be a leak.
    heard = [name for name, _ in world.spy.events if name != "presence"]
    if heard:
        leaks.append(f"{cell}: the spy heard {heard}")
    if world.snapshot() != before:
        leaks.append(f"{cell}: the database changed")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socket_matrix(world, transport):
    actual: dict[str, dict[str, str]] = {}
    leaks: list[str] = []
    for principal in PRINCIPALS:
        world.settle()
        before = world.snapshot()
        device = _open(world, principal, transport)
        if isinstance(device, str):  # refused: no event can even be sent
            actual[principal] = dict.fromkeys(EVENTS, device)
            _check_denial_left_no_trace(world, before, f"{transport} {principal} connect", leaks)
            continue
        try:
            world.settle()  # the principal's own presence, on connecting
            actual[principal] = {}
            for event in EVENTS:
                mid = world.target_message(event)
                before = world.snapshot()
                outcome = _socket_outcome(world, device, event, mid)
                actual[principal][event] = outcome
                if outcome in ("ok", "ok-empty"):
                    world.spent(event)
                else:
                    _check_denial_left_no_trace(world, before, f"{transport} {principal} {event}", leaks)
        finally:
            device.close()
    assert actual == EXPECTED_SOCKET
    assert leaks == []


def test_rest_matrix(world):
    actual: dict[str, dict[str, str]] = {}
    leaks: list[str] = []
    for principal in PRINCIPALS:
        actual[principal] = {}
        for endpoint in ENDPOINTS:
            mid = world.target_message(endpoint)
            before = world.snapshot()
            outcome = _rest_outcome(world, principal, endpoint, mid)
            actual[principal][endpoint] = outcome
            if outcome == "ok":
                world.spent(endpoint)
            else:
                _check_denial_left_no_trace(world, before, f"REST {principal} {endpoint}", leaks)
    assert actual == EXPECTED_REST
    assert leaks == []
