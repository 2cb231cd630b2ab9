"""The REST validation tables: every endpoint of PROTOCOL.md's REST table answers
bad input with the contract's envelope, never a 500, an HTML page or a trace.

- a body that is not a JSON object (bad JSON, another content type, a list,
  a string, a number, null) is 400 ``validation_error``; over 64 KiB is 413;
- a missing field or a wrong type is 400 ``validation_error``;
- a malformed id in a path is ``validation_error``; a well-formed unknown id is
  ``not_found``, exactly as a conversation the caller is not a member of;
- no credentials, or a bad token, is 401 ``unauthorized``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from .conftest import World, assert_error

# name -> (method, path for the world, a valid JSON body for the world or None)
Path = Callable[[World], str]
Body = Callable[[World], dict] | None

ENDPOINTS: dict[str, tuple[str, Path, Body]] = {
    "register": ("POST", lambda w: "/auth/register", lambda w: {"username": "dave", "password": "correct horse"}),
    "login": ("POST", lambda w: "/auth/login", lambda w: {"username": "alice", "password": "correct horse"}),
    "logout": ("POST", lambda w: "/auth/logout", None),
    "me": ("GET", lambda w: "/me", None),
    "users": ("GET", lambda w: "/users?q=a", None),
    "list conversations": ("GET", lambda w: "/conversations", None),
    "create direct": ("POST", lambda w: "/conversations", lambda w: {"type": "direct", "user_id": w.carol.id}),
    "create group": ("POST", lambda w: "/conversations", lambda w: {"type": "group", "name": "G", "member_ids": []}),
    "get conversation": ("GET", lambda w: f"/conversations/{w.dm}", None),
    "history": ("GET", lambda w: f"/conversations/{w.dm}/messages", None),
    "send": ("POST", lambda w: f"/conversations/{w.dm}/messages", lambda w: {"body": "hi", "client_id": "c-9"}),
    "edit": ("PATCH", lambda w: f"/messages/{w.message}", lambda w: {"body": "edited"}),
    "delete": ("DELETE", lambda w: f"/messages/{w.message}", None),
    "react": ("POST", lambda w: f"/messages/{w.message}/reactions", lambda w: {"emoji": "+1"}),
    "unreact": ("DELETE", lambda w: f"/messages/{w.message}/reactions/+1", None),
    "read": ("POST", lambda w: f"/conversations/{w.dm}/read", lambda w: {"seq": 1}),
    "rooms": ("GET", lambda w: "/rooms?q=lob", None),
    "join": ("POST", lambda w: f"/conversations/{w.room}/join", None),
    "add member": ("POST", lambda w: f"/conversations/{w.group}/members", lambda w: {"user_id": w.carol.id}),
    "remove member": ("DELETE", lambda w: f"/conversations/{w.group}/members/{w.bob.id}", None),
}
JSON_ENDPOINTS = [name for name, (_, _, body) in ENDPOINTS.items() if body is not None]
PUBLIC = {"register", "login"}
AUTHENTICATED = [name for name in ENDPOINTS if name not in PUBLIC]


def call(world: World, name: str, caller=None, **kw):
    method, path, _ = ENDPOINTS[name]
    return (caller or world.api).request(method, path(world), **kw)


def test_every_valid_request_in_the_table_succeeds(world):
    """The table's valid requests really are valid: the failures below are about the input alone."""
    for name in sorted(ENDPOINTS, key=lambda n: (n in ("delete", "logout"), n == "logout")):
        body = ENDPOINTS[name][2]
        response = call(world, name, json=body(world) if body else None)
        assert response.status_code in (200, 201, 204), (name, response.get_data(as_text=True))


# ---------------------------------------------------------------- bodies that are not JSON objects


NOT_AN_OBJECT = {
    "bad JSON": {"data": '{"body": "hi", ', "content_type": "application/json"},
    "truncated JSON": {"data": "{", "content_type": "application/json"},
    "not UTF-8": {"data": b'{"body": "\xff\xfe"}', "content_type": "application/json"},
    "text/plain": {"data": '{"body": "hi"}', "content_type": "text/plain"},
    "form-encoded": {"data": {"body": "hi"}},
    "no content type": {"data": '{"body": "hi"}'},
    "empty body": {"data": "", "content_type": "application/json"},
    "JSON list": {"json": [1, 2]},
    "JSON string": {"json": "hello"},
    "JSON number": {"json": 42},
    "JSON null": {"data": "null", "content_type": "application/json"},
    "JSON true": {"json": True},
}


@pytest.mark.parametrize("case", NOT_AN_OBJECT)
@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS)
def test_a_body_that_is_not_a_json_object_is_a_validation_error(world, endpoint, case):
    assert_error(call(world, endpoint, **NOT_AN_OBJECT[case]), 400, "validation_error")


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS)
def test_a_body_over_64_kib_is_payload_too_large(world, endpoint):
    body = {**ENDPOINTS[endpoint][2](world), "padding": "x" * (64 * 1024)}
    assert_error(call(world, endpoint, json=body), 413, "payload_too_large")


@pytest.mark.parametrize("endpoint", ["send", "edit"])
def test_an_oversized_body_stores_nothing(world, endpoint):
    call(world, endpoint, json={"body": "x" * (70 * 1024), "client_id": "big"})
    history = world.api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert [(m["body"], m["edited_at"]) for m in history] == [("hello bob", None)]


# ---------------------------------------------------------------- missing fields and wrong types


FIELD_CASES = [
    ("register", {"password": "correct horse"}, "username"),
    ("register", {"username": "dave"}, "password"),
    ("register", {"username": 5, "password": "correct horse"}, "username"),
    ("register", {"username": "dave", "password": 12345678}, "password"),
    ("register", {"username": "da", "password": "correct horse"}, "username"),
    ("register", {"username": "dave!", "password": "correct horse"}, "username"),
    ("register", {"username": "dave", "password": "short"}, "password"),
    ("register", {"username": "dave", "password": "correct horse", "display_name": 7}, "display_name"),
    ("register", {"username": "dave", "password": "correct horse", "display_name": ""}, "display_name"),
    ("login", {"password": "correct horse"}, "username"),
    ("login", {"username": "alice"}, "password"),
    ("login", {"username": ["alice"], "password": "correct horse"}, "username"),
    ("login", {"username": "alice", "password": None}, "password"),
    ("login", {"username": "alice", "password": "correct horse", "device_name": 3}, "device_name"),
    ("create direct", {"user_id": 1}, "type"),
    ("create direct", {"type": "channel", "user_id": 1}, "type"),
    ("create direct", {"type": 1, "user_id": 1}, "type"),
    ("create direct", {"type": "direct"}, "user_id"),
    ("create direct", {"type": "direct", "user_id": "3"}, "user_id"),
    ("create direct", {"type": "direct", "user_id": 3.0}, "user_id"),
    ("create direct", {"type": "direct", "user_id": True}, "user_id"),
    ("create direct", {"type": "direct", "user_id": 0}, "user_id"),
    ("create direct", {"type": "direct", "user_id": [3]}, "user_id"),
    ("create group", {"type": "group", "member_ids": []}, "name"),
    ("create group", {"type": "group", "name": 5, "member_ids": []}, "name"),
    ("create group", {"type": "group", "name": "   ", "member_ids": []}, "name"),
    ("create group", {"type": "group", "name": "G", "member_ids": "1,2"}, "member_ids"),
    ("create group", {"type": "group", "name": "G", "member_ids": ["2"]}, "member_ids"),
    ("create group", {"type": "group", "name": "G", "member_ids": [], "visibility": "secret"}, "visibility"),
    ("create group", {"type": "group", "name": "G", "member_ids": [], "posting": "nobody"}, "posting"),
    ("send", {"client_id": "c"}, "body"),
    ("send", {"body": "hi"}, "client_id"),
    ("send", {"body": 5, "client_id": "c"}, "body"),
    ("send", {"body": ["hi"], "client_id": "c"}, "body"),
    ("send", {"body": "hi", "client_id": 5}, "client_id"),
    ("send", {"body": "   ", "client_id": "c"}, "body"),
    ("send", {"body": "x" * 4001, "client_id": "c"}, "body"),
    ("send", {"body": "hi", "client_id": ""}, "client_id"),
    ("send", {"body": "hi", "client_id": "c" * 65}, "client_id"),
    ("edit", {}, "body"),
    ("edit", {"body": None}, "body"),
    ("edit", {"body": 1}, "body"),
    ("edit", {"body": " "}, "body"),
    ("react", {}, "emoji"),
    ("react", {"emoji": 1}, "emoji"),
    ("react", {"emoji": ""}, "emoji"),
    ("react", {"emoji": "a b"}, "emoji"),
    ("react", {"emoji": "x" * 17}, "emoji"),
    ("read", {}, "seq"),
    ("read", {"seq": "1"}, "seq"),
    ("read", {"seq": -1}, "seq"),
    ("read", {"seq": 1.5}, "seq"),
    ("read", {"seq": False}, "seq"),
    ("add member", {}, "user_id"),
    ("add member", {"user_id": "3"}, "user_id"),
    ("add member", {"user_id": -3}, "user_id"),
]


@pytest.mark.parametrize(
    "endpoint,body,field", FIELD_CASES, ids=[f"{e}-{f}-{i}" for i, (e, _, f) in enumerate(FIELD_CASES)]
)
def test_missing_fields_and_wrong_types_are_a_validation_error(world, endpoint, body, field):
    error = assert_error(call(world, endpoint, json=body), 400, "validation_error")
    assert field in error.get("fields", {}) or field in error["message"], error


QUERY_CASES = [
    ("/users?limit=abc", "limit"),
    ("/users?limit=0", "limit"),
    ("/users?limit=1.5", "limit"),
    ("/conversations?limit=0", "limit"),
    ("/conversations?limit=ten", "limit"),
    ("/conversations?cursor=not-a-cursor", "cursor"),
    ("/conversations/{dm}/messages?before=abc", "before"),
    ("/conversations/{dm}/messages?after=-1", "after"),
    ("/conversations/{dm}/messages?before=5&after=1", "before"),
    ("/conversations/{dm}/messages?limit=0", "limit"),
    ("/conversations/{dm}/messages?limit=1e3", "limit"),
    ("/conversations/{dm}/messages?before=1_0", "before"),
]


@pytest.mark.parametrize("path,field", QUERY_CASES)
def test_bad_query_parameters_are_a_validation_error(world, path, field):
    error = assert_error(world.api.get(path.format(dm=world.dm)), 400, "validation_error")
    assert field in error.get("fields", {}) or field in error["message"], error


# ---------------------------------------------------------------- ids in paths


# name -> path with {id} where the id under test goes (the other ids are valid).
ID_PATHS = {
    "get conversation": ("GET", "/conversations/{id}", None),
    "history": ("GET", "/conversations/{id}/messages", None),
    "send": ("POST", "/conversations/{id}/messages", {"body": "hi", "client_id": "c-1"}),
    "read": ("POST", "/conversations/{id}/read", {"seq": 1}),
    "join": ("POST", "/conversations/{id}/join", None),
    "add member": ("POST", "/conversations/{id}/members", {"user_id": 1}),
    "remove member": ("DELETE", "/conversations/{id}/members/1", None),
    "edit": ("PATCH", "/messages/{id}", {"body": "x"}),
    "delete": ("DELETE", "/messages/{id}", None),
    "react": ("POST", "/messages/{id}/reactions", {"emoji": "+1"}),
    "unreact": ("DELETE", "/messages/{id}/reactions/+1", None),
}
MALFORMED_IDS = ["abc", "1.5", "-1", "0", "1_0", "+1", "%201", "%D9%A3", "1e3", "99999999999999999999"]


@pytest.mark.parametrize("raw", MALFORMED_IDS)
@pytest.mark.parametrize("endpoint", ID_PATHS)
def test_a_malformed_id_in_a_path_is_a_validation_error(world, endpoint, raw):
    method, path, body = ID_PATHS[endpoint]
    assert_error(world.api.request(method, path.format(id=raw), json=body), 400, "validation_error")


@pytest.mark.parametrize("raw", ["abc", "0", "1_0", "99999999999999999999"])
def test_a_malformed_user_id_in_a_members_path_is_a_validation_error(world, raw):
    assert_error(world.api.delete(f"/conversations/{world.group}/members/{raw}"), 400, "validation_error")


@pytest.mark.parametrize("endpoint", ID_PATHS)
def test_a_well_formed_unknown_id_is_not_found(world, endpoint):
    method, path, body = ID_PATHS[endpoint]
    assert_error(world.api.request(method, path.format(id=987654), json=body), 404, "not_found")


@pytest.mark.parametrize("endpoint", ID_PATHS)
def test_a_non_member_gets_not_found_exactly_as_for_an_unknown_id(world, endpoint):
    method, path, body = ID_PATHS[endpoint]
    conversation_paths = path.startswith("/conversations")
    hidden = world.dm if conversation_paths else world.message
    response = world.carol_api.request(method, path.format(id=hidden), json=body)
    unknown = world.carol_api.request(method, path.format(id=987654), json=body)
    assert_error(response, 404, "not_found")
    # Existence is not leaked: the same body as for an id that does not exist.
    assert response.get_json() == unknown.get_json()


def test_a_non_members_failed_writes_change_nothing(world):
    for endpoint in ID_PATHS:
        method, path, body = ID_PATHS[endpoint]
        target = world.dm if path.startswith("/conversations") else world.message
        world.carol_api.request(method, path.format(id=target), json=body)
    messages = world.api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert [(m["body"], m["deleted"], m["reactions"]) for m in messages] == [("hello bob", False, {})]
    members = world.api.get(f"/conversations/{world.dm}").get_json()["conversation"]["members"]
    assert [m["username"] for m in members] == ["alice", "bob"]


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize("endpoint", AUTHENTICATED)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="},
        {"Authorization": "Bearer " + "x" * 300},
    ],
    ids=["none", "unknown", "empty", "basic", "huge"],
)
def test_without_valid_credentials_every_endpoint_is_unauthorized(app, world, endpoint, headers):
    from .conftest import Caller

    anonymous = Caller(app, None)
    _, _, body = ENDPOINTS[endpoint]
    response = call(world, endpoint, caller=anonymous, headers=headers, json=body(world) if body else None)
    assert_error(response, 401, "unauthorized")


def test_a_revoked_token_is_unauthorized_everywhere_at_once(world):
    assert world.bob_api.post("/auth/logout").status_code == 204
    for endpoint in AUTHENTICATED:
        _, _, body = ENDPOINTS[endpoint]
        assert_error(call(world, endpoint, caller=world.bob_api, json=body(world) if body else None), 401,
                     "unauthorized")


# ---------------------------------------------------------------- never HTML, never a trace


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/api/v1/no-such-endpoint", 404, "not_found"),
        ("PUT", "/api/v1/me", 405, "validation_error"),
        ("DELETE", "/api/v1/conversations", 405, "validation_error"),
    ],
)
def test_routing_errors_use_the_envelope_too(world, method, path, status, code):
    with world.api.app.app_context():
        response = world.api.client.open(path, method=method, headers={"Authorization": f"Bearer {world.api.token}"})
    assert_error(response, status, code)


def test_an_unexpected_exception_is_an_internal_envelope_not_a_trace(app, world, monkeypatch):
    from chatapp.services import accounts

    def explode(*_a, **_kw):
        raise RuntimeError("boom: secret detail")

    monkeypatch.setattr(accounts, "search_users", explode)
    response = world.api.get("/users?q=a")
    error = assert_error(response, 500, "internal")
    assert "secret detail" not in json.dumps(error)
