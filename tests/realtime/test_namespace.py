"""The /chat namespace with Flask-SocketIO's in-process test client (fast unit
proof; the real-socket proof is tests/e2e/test_core_e2e.py).

Every client-to-server event takes an ack answered ``{ok: true, ...}`` or
``{ok: false, error: {code, message}}``; connecting needs a valid token (or
the session cookie) and is answered with ``ready``.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from flask_socketio.test_client import SocketIOTestClient
from socketio import packet

from chatapp.extensions import socketio
from chatapp.services import accounts, conversations, messaging

NS = "/chat"


@pytest.fixture(autouse=True)
def fast_settings(app):
    # Hashing cost is specified in tests/services/test_accounts.py; presence
    # timing in tests/services/test_live_presence.py. Here: settle offline at
    # once, and no heartbeat during a test.
    app.config.update(
        ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1, RATE_MESSAGES_BURST=1000,
        PRESENCE_OFFLINE_GRACE_SECONDS=0, PRESENCE_HEARTBEAT_SECONDS=3600,
    )


@pytest.fixture(autouse=True)
def background_tasks(app, monkeypatch):
    """The server's background tasks (ready, offline settling) finish before the
    test's database goes away: disconnect every test client, then join them."""
    threads = []
    start = socketio.start_background_task

    def recording(target, *args, **kwargs):
        thread = start(target, *args, **kwargs)
        if getattr(target, "__name__", "") != "_heartbeat_loop":
            threads.append(thread)
        return thread

    monkeypatch.setattr(socketio, "start_background_task", recording)
    yield
    for client in list(SocketIOTestClient.clients.values()):
        if client.is_connected(NS):
            client.disconnect(NS)
    for thread in threads:
        thread.join(5)


def received(client, name: str | None = None, timeout: float = 0.0) -> list:
    """Events received so far (polling up to ``timeout`` for at least one of ``name``)."""
    deadline = time.monotonic() + timeout
    seen: list = []
    while True:
        seen.extend(client.get_received(NS))
        matching = [e["args"][0] if e["args"] else None for e in seen if name is None or e["name"] == name]
        if matching or time.monotonic() >= deadline:
            client.queue.extend(e for e in seen)  # leave them for the next reader
            return matching if name else seen
        time.sleep(0.01)


def drain(client) -> list:
    return client.get_received(NS)


@pytest.fixture
def chat(app, make_user, socket_client):
    alice, alice_token = make_user("alice")
    bob, bob_token = make_user("bob")
    carol, carol_token = make_user("carol")
    dm, _ = conversations.open_direct(alice, bob.id)
    message, _ = messaging.send_message(alice, dm["id"], "hello bob", "hello-1")
    sockets = SimpleNamespace(
        alice=socket_client(alice_token), bob=socket_client(bob_token), carol=socket_client(carol_token)
    )
    for sock in vars(sockets).values():
        assert sock.is_connected(NS)
        received(sock, "ready", timeout=2)
        drain(sock)
    return SimpleNamespace(
        alice=alice, bob=bob, carol=carol, dm=dm["id"], message=message["id"], s=sockets,
        tokens=SimpleNamespace(alice=alice_token, bob=bob_token, carol=carol_token),
    )


def ack(sock, event: str, *payload):
    return sock.emit(event, *payload, callback=True, namespace=NS)


def assert_refused(result: dict, code: str) -> dict:
    assert result["ok"] is False, result
    assert set(result) == {"ok", "error"}, result
    assert result["error"]["code"] == code, result
    assert isinstance(result["error"]["message"], str) and result["error"]["message"]
    return result["error"]


# ---------------------------------------------------------------- connecting


def test_ready_carries_the_user_their_conversations_and_total_unread(chat, socket_client):
    sock = socket_client(chat.tokens.bob)
    ready = received(sock, "ready", timeout=2)
    assert len(ready) == 1
    data = ready[0]
    assert set(data) == {"user", "conversations", "total_unread"}
    assert data["user"]["id"] == chat.bob.id
    assert set(data["user"]) == {"id", "username", "display_name", "online", "last_seen_at"}
    # version 2: the conversation was created (1), then a message sent (2).
    assert data["conversations"] == [
        {"id": chat.dm, "last_seq": 1, "version": 2, "last_read_seq": 0, "unread_count": 1, "unread_mentions": 0}
    ]
    assert data["total_unread"] == 1


def test_the_heartbeat_reports_this_workers_sockets_from_the_sid_to_user_map(app, chat, socket_client):
    tasks = app.extensions["chat.tasks"]
    second_bob = socket_client(chat.tokens.bob)
    received(second_bob, "ready", timeout=2)
    pairs = tasks._local_connections()
    assert sorted(uid for uid, _ in pairs) == sorted([chat.alice.id, chat.bob.id, chat.bob.id, chat.carol.id])
    assert len({sid for _, sid in pairs}) == 4
    second_bob.disconnect(NS)
    assert sorted(uid for uid, _ in tasks._local_connections()) == sorted([chat.alice.id, chat.bob.id, chat.carol.id])


@pytest.mark.parametrize("auth", [None, {}, {"token": "bad"}, {"token": ""}, {"token": 5}, "token", {"token": None}])
def test_a_connection_without_a_valid_token_is_refused(app, make_user, socket_client, auth):
    make_user("alice")
    client = socketio.test_client(app, namespace=NS, auth=auth)
    assert not client.is_connected(NS)


def test_a_revoked_token_cannot_connect_and_its_open_socket_is_closed(app, chat):
    accounts.revoke_token(chat.bob, accounts.authenticate_token(chat.tokens.bob)[1].id)
    assert not chat.s.bob.is_connected(NS)
    client = socketio.test_client(app, namespace=NS, auth={"token": chat.tokens.bob})
    assert not client.is_connected(NS)
    assert chat.s.alice.is_connected(NS)


def test_the_refusal_carries_the_envelope_as_connect_error_data(app, make_user):
    """socket.io-client exposes this as err.data: err.data.code === "unauthorized"."""
    make_user("alice")
    client = socketio.test_client(app, namespace=NS, auth={"token": "bad"})
    sent = []
    mock = socketio.server._send_packet

    def record(eio_sid, pkt):
        sent.append(pkt)
        return mock(eio_sid, pkt)

    socketio.server._send_packet = record
    try:
        client.connect(namespace=NS, auth={"token": "bad"})
    finally:
        socketio.server._send_packet = mock
    errors = [p for p in sent if p.packet_type == packet.CONNECT_ERROR]
    assert len(errors) == 1
    data = errors[0].data
    assert data["data"]["code"] == "unauthorized"
    assert data["data"]["message"] == data["message"]


def test_the_session_cookie_authenticates_a_socket(app, make_user, socket_client):
    make_user("alice")
    browser = app.test_client()
    # Fresh app contexts, as each real request gets: flask.g must not carry
    # Flask-Login's cached user from the login request into the handshake.
    with app.app_context():
        browser.post("/api/v1/auth/login", json={"username": "alice", "password": "correct horse"})
    with app.app_context():
        client = socketio.test_client(app, namespace=NS, flask_test_client=browser)
    assert client.is_connected(NS)
    assert received(client, "ready", timeout=2)[0]["user"]["username"] == "alice"
    client.disconnect(NS)


# ---------------------------------------------------------------- events that succeed


def test_message_send_acks_the_message_and_reaches_every_member_socket(chat, socket_client):
    second_bob = socket_client(chat.tokens.bob)
    received(second_bob, "ready", timeout=2)
    drain(second_bob)
    result = ack(chat.s.alice, "message:send", {"conversation_id": chat.dm, "body": " hi ", "client_id": "c-2"})
    assert result["ok"] is True and set(result) == {"ok", "message"}
    message = result["message"]
    assert (message["body"], message["seq"], message["client_id"]) == ("hi", 2, "c-2")
    # The sending socket, the other member, and every one of the other member's devices.
    for sock in (chat.s.alice, chat.s.bob, second_bob):
        assert received(sock, "message:new", timeout=1) == [{"message": message}]
    assert received(chat.s.carol, "message:new") == []


def test_resending_a_client_id_acks_the_original_and_emits_nothing(chat):
    payload = {"conversation_id": chat.dm, "body": "once", "client_id": "dup"}
    first = ack(chat.s.alice, "message:send", payload)
    drain(chat.s.alice), drain(chat.s.bob)
    again = ack(chat.s.alice, "message:send", {**payload, "body": "twice"})
    assert again == first
    assert received(chat.s.bob, "message:new", timeout=0.2) == []


def test_edit_delete_react_and_unreact(chat):
    edited = ack(chat.s.alice, "message:edit", {"message_id": chat.message, "body": "edited"})
    assert edited["ok"] and edited["message"]["body"] == "edited"
    assert received(chat.s.bob, "message:updated", timeout=1)[0] == {"message": edited["message"]}
    reacted = ack(chat.s.bob, "message:react", {"message_id": chat.message, "emoji": "+1"})
    assert reacted["message"]["reactions"] == {"+1": [chat.bob.id]}
    unreacted = ack(chat.s.bob, "message:unreact", {"message_id": chat.message, "emoji": "+1"})
    assert unreacted["message"]["reactions"] == {}
    assert ack(chat.s.alice, "message:delete", {"message_id": chat.message}) == {"ok": True}
    deleted = received(chat.s.bob, "message:deleted", timeout=1)
    # send, edit, react, unreact, delete: the delete is the conversation's fifth change.
    assert deleted == [{"conversation_id": chat.dm, "message_id": chat.message, "seq": 1, "version": 6}]


def test_typing_goes_to_the_other_members_not_the_typist(chat):
    assert ack(chat.s.alice, "typing", {"conversation_id": chat.dm, "typing": True}) == {"ok": True}
    [event] = received(chat.s.bob, "typing", timeout=1)
    assert event["conversation_id"] == chat.dm and event["user_id"] == chat.alice.id and event["typing"] is True
    assert event["expires_in_ms"] > 0
    assert received(chat.s.alice, "typing") == []


def test_read_acks_the_new_position_and_unread_count(chat):
    assert ack(chat.s.bob, "read", {"conversation_id": chat.dm, "seq": 50}) == {
        "ok": True, "last_read_seq": 1, "unread_count": 0,
    }


def test_sync_acks_the_missed_messages(chat):
    result = ack(chat.s.bob, "sync", {"cursors": {str(chat.dm): 0}})
    assert result["ok"] is True and result["has_more"] is False
    assert [m["id"] for m in result["messages"]] == [chat.message]
    assert ack(chat.s.bob, "sync", {"cursors": {str(chat.dm): 1}, "limit": 10}) == {
        "ok": True, "messages": [], "has_more": False,
    }


# ---------------------------------------------------------------- the validation table

# event -> a valid payload for the chat fixture
EVENTS = {
    "message:send": lambda c: {"conversation_id": c.dm, "body": "hi", "client_id": "v-1"},
    "message:edit": lambda c: {"message_id": c.message, "body": "edited"},
    "message:delete": lambda c: {"message_id": c.message},
    "message:react": lambda c: {"message_id": c.message, "emoji": "+1"},
    "message:unreact": lambda c: {"message_id": c.message, "emoji": "+1"},
    "typing": lambda c: {"conversation_id": c.dm, "typing": True},
    "read": lambda c: {"conversation_id": c.dm, "seq": 1},
    "delivered": lambda c: {"conversation_id": c.dm, "seq": 1},
    "sync": lambda c: {"cursors": {str(c.dm): 0}},
}


@pytest.mark.parametrize("event", EVENTS)
def test_every_valid_payload_in_the_table_succeeds(chat, event):
    assert ack(chat.s.alice, event, EVENTS[event](chat))["ok"] is True


@pytest.mark.parametrize("payload", [[], [1, 2], "hello", 42, 1.5, True], ids=repr)
@pytest.mark.parametrize("event", EVENTS)
def test_a_payload_that_is_not_an_object_is_a_validation_error(chat, event, payload):
    assert_refused(ack(chat.s.alice, event, payload), "validation_error")


@pytest.mark.parametrize("event", EVENTS)
def test_no_payload_at_all_is_a_validation_error(chat, event):
    assert_refused(ack(chat.s.alice, event), "validation_error")


@pytest.mark.parametrize("event", EVENTS)
def test_an_empty_object_is_a_validation_error(chat, event):
    assert_refused(ack(chat.s.alice, event, {}), "validation_error")


def _missing_field_cases():
    for event, valid in EVENTS.items():
        for field in valid(SimpleNamespace(dm=1, message=1)):
            yield event, field


@pytest.mark.parametrize("event,field", list(_missing_field_cases()))
def test_each_missing_field_is_a_validation_error(chat, event, field):
    payload = {k: v for k, v in EVENTS[event](chat).items() if k != field}
    error = assert_refused(ack(chat.s.alice, event, payload), "validation_error")
    assert field in error.get("fields", {}) or field in error["message"]


WRONG_TYPES = [
    ("message:send", "conversation_id", "1"),
    ("message:send", "conversation_id", 1.5),
    ("message:send", "conversation_id", True),
    ("message:send", "conversation_id", 0),
    ("message:send", "conversation_id", -4),
    ("message:send", "conversation_id", 2**63),  # beyond a signed 64-bit id
    ("message:send", "body", 5),
    ("message:send", "body", ["hi"]),
    ("message:send", "body", "   "),
    ("message:send", "body", "x" * 4001),
    ("message:send", "client_id", 5),
    ("message:send", "client_id", ""),
    ("message:send", "client_id", "c" * 65),
    ("message:edit", "message_id", "1"),
    ("message:edit", "message_id", 1.0),
    ("message:edit", "message_id", False),
    ("message:edit", "body", {"text": "x"}),
    ("message:delete", "message_id", "1"),
    ("message:delete", "message_id", 2.5),
    ("message:delete", "message_id", [1]),
    ("message:react", "emoji", 5),
    ("message:react", "emoji", ""),
    ("message:react", "message_id", "1"),
    ("message:unreact", "emoji", None),
    ("message:unreact", "message_id", True),
    ("typing", "typing", "yes"),
    ("typing", "typing", 1),
    ("typing", "typing", "true"),
    ("typing", "conversation_id", "1"),
    ("typing", "conversation_id", 1.5),
    ("read", "seq", "1"),
    ("read", "seq", -1),
    ("read", "seq", 1.5),
    ("read", "seq", True),
    ("read", "conversation_id", "1"),
    ("delivered", "seq", "2"),
    ("sync", "cursors", [1, 2]),
    ("sync", "cursors", "1:0"),
    ("sync", "cursors", {"abc": 0}),
    ("sync", "cursors", {"\u0663": 0}),  # a non-ASCII digit is not an id
    ("sync", "cursors", {"\u00b2": 0}),  # nor is a superscript
    ("sync", "cursors", {"1": "0"}),
    ("sync", "cursors", {"1": -1}),
    ("sync", "limit", 0),
    ("sync", "limit", "10"),
]


@pytest.mark.parametrize("event,field,value", WRONG_TYPES, ids=[f"{e}-{f}-{v!r:.20}" for e, f, v in WRONG_TYPES])
def test_a_wrong_type_or_malformed_value_is_a_validation_error(chat, event, field, value):
    payload = {**EVENTS[event](chat), field: value}
    assert_refused(ack(chat.s.alice, event, payload), "validation_error")


UNKNOWN_IDS = [(e, f) for e, f in _missing_field_cases() if f in ("conversation_id", "message_id")]


@pytest.mark.parametrize("event,field", UNKNOWN_IDS)
def test_a_well_formed_unknown_id_is_not_found(chat, event, field):
    payload = {**EVENTS[event](chat), field: 987654}
    assert_refused(ack(chat.s.alice, event, payload), "not_found")


@pytest.mark.parametrize("event,field", UNKNOWN_IDS)
def test_a_non_member_gets_not_found_exactly_as_for_an_unknown_id(chat, event, field):
    hidden = ack(chat.s.carol, event, EVENTS[event](chat))
    unknown = ack(chat.s.carol, event, {**EVENTS[event](chat), field: 987654})
    assert_refused(hidden, "not_found")
    assert hidden == unknown


def test_sync_ignores_cursors_of_conversations_the_caller_cannot_see(chat):
    result = ack(chat.s.carol, "sync", {"cursors": {str(chat.dm): 0, "987654": 0}})
    assert result == {"ok": True, "messages": [], "has_more": False}


def test_an_unknown_event_is_a_validation_error(chat):
    assert_refused(ack(chat.s.alice, "message:explode", {"x": 1}), "validation_error")


def test_refused_events_store_and_emit_nothing(chat):
    for event, field, value in WRONG_TYPES:
        ack(chat.s.carol, event, {**EVENTS[event](chat), field: value})
        ack(chat.s.carol, event, EVENTS[event](chat))
    page, _ = messaging.history(chat.alice, chat.dm, None, None, None)
    assert [(m["body"], m["deleted"], m["reactions"]) for m in page] == [("hello bob", False, {})]
    assert received(chat.s.alice, "message:new") == received(chat.s.bob, "message:updated") == []
