"""Fuzz every REST endpoint: hostile paths, queries, bodies and content types.
Every answer is a success or the contract's error envelope, never a 500, and a
normal send works afterwards. In-process for volume, then a smaller run
against a real server."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatapp.extensions import db
from chatapp.models import User
from chatapp.services import accounts, conversations
from chatapp.services.errors import Unauthorized
from tests.security.live import DATABASES, RowCounter, live_server, register

from .strategies import ERROR_CODES, any_json, hostile_json_text, shaped_payload

# (method, path template); {c} conversation, {m} message, {u} user, {t} token, {e} emoji.
ENDPOINTS = [
    ("POST", "/auth/register"), ("POST", "/auth/login"), ("POST", "/auth/logout"), ("GET", "/me"),
    ("GET", "/auth/tokens"), ("DELETE", "/auth/tokens/{t}"), ("GET", "/users"), ("GET", "/users/{u}"),
    ("GET", "/conversations"), ("POST", "/conversations"), ("GET", "/conversations/{c}"),
    ("PATCH", "/conversations/{c}"), ("GET", "/conversations/{c}/messages"), ("POST", "/conversations/{c}/messages"),
    ("PATCH", "/messages/{m}"), ("DELETE", "/messages/{m}"), ("POST", "/messages/{m}/reactions"),
    ("DELETE", "/messages/{m}/reactions/{e}"), ("POST", "/conversations/{c}/read"),
    ("POST", "/conversations/{c}/delivered"), ("GET", "/rooms"), ("POST", "/conversations/{c}/join"),
    ("POST", "/conversations/{c}/members"), ("PATCH", "/conversations/{c}/members/{u}"),
    ("DELETE", "/conversations/{c}/members/{u}"), ("GET", "/openapi.json"), ("POST", "/sync"),
    # v2 account and safety
    ("PATCH", "/me"), ("DELETE", "/me"), ("GET", "/me/export"), ("POST", "/auth/password"),
    ("POST", "/users/{u}/block"), ("DELETE", "/users/{u}/block"), ("GET", "/me/blocks"),
    ("POST", "/messages/{m}/report"),
]
# Endpoints that end the caller's session get a throwaway token (see _token_for).
SESSION_ENDING = {("POST", "/auth/logout"), ("DELETE", "/auth/tokens/{t}"), ("POST", "/auth/password"),
                  ("DELETE", "/me")}
IN_PROCESS_EXAMPLES = 1500
REAL_EXAMPLES = 250

segment = st.one_of(
    st.integers(1, 5).map(str), st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "-1", "abc", "1.5", "１", "%00", "..", "1e3", " 1", "9" * 40, "%F0%9F%91%8D", "👍"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"), min_size=1,
            max_size=12).map(lambda t: requests.utils.quote(t, safe="")),
)
query = st.dictionaries(
    st.sampled_from(["limit", "before", "after", "cursor", "q", "x"]),
    st.one_of(st.text(max_size=20), st.integers(-5, 2**64).map(str), st.just("")), max_size=3,
)
BODY_FIELDS = ["username", "password", "display_name", "device_name", "type", "user_id", "name", "member_ids",
               "visibility", "posting", "body", "client_id", "emoji", "seq", "role", "current_password",
               "new_password", "reason"]
plausible_body = st.fixed_dictionaries({}, optional={
    "username": st.one_of(st.text(max_size=40), any_json), "password": st.one_of(st.text(max_size=20), any_json),
    "type": st.one_of(st.sampled_from(["direct", "group", "x"]), any_json),
    "user_id": st.one_of(st.integers(1, 5), any_json), "name": st.one_of(st.text(max_size=120), any_json),
    "member_ids": st.one_of(st.lists(st.integers(-1, 6), max_size=5), any_json),
    "visibility": st.one_of(st.sampled_from(["public", "private", "x"]), any_json),
    "posting": st.one_of(st.sampled_from(["all", "admins"]), any_json),
    "body": st.one_of(st.text(max_size=50), any_json), "client_id": st.one_of(st.uuids().map(str), any_json),
    "emoji": st.one_of(st.sampled_from(["👍", "+1"]), any_json), "seq": st.one_of(st.integers(-2, 20), any_json),
    "role": st.one_of(st.sampled_from(["owner", "admin", "member", "x"]), any_json),
    "cursors": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "x", "-1", "99999999999999999999"]),
                                         st.integers(-2, 2**64), max_size=3), any_json),
    "versions": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "x"]), st.integers(-2, 2**64), max_size=3),
                          any_json),
    "limit": st.one_of(st.integers(-2, 2000), any_json),
    "display_name": any_json, "device_name": any_json,
    "current_password": st.one_of(st.text(max_size=20), any_json),
    "new_password": st.one_of(st.text(max_size=20), any_json), "reason": st.one_of(st.text(max_size=30), any_json),
})
body = st.one_of(
    st.tuples(st.just("json"), st.one_of(plausible_body, plausible_body, shaped_payload(), any_json)),
    # Text a Python object cannot stand for: nesting past the policy, duplicate keys, "\ud800" escapes.
    st.tuples(st.just("raw-json"), plausible_body.flatmap(lambda fields: hostile_json_text(
        {k: v for k, v in fields.items() if _encodable(v)}))),
    st.tuples(st.sampled_from(["text/plain", "application/json", "application/x-www-form-urlencoded", ""]),
              st.binary(max_size=200)),
    st.tuples(st.just("none"), st.none()),
)
auth = st.sampled_from(["good", "good", "good", "none", "garbage"])


@st.composite
def rest_call(draw):
    method, template = draw(st.sampled_from(ENDPOINTS))
    path = template
    for key in ("c", "m", "u", "t", "e"):
        if "{" + key + "}" in path:
            path = path.replace("{" + key + "}", draw(segment))
    return method, template, path, draw(query), draw(body), draw(auth)


def _check(response_status: int, content_type: str, payload: bytes, method: str, path: str) -> None:
    assert response_status < 500, (method, path, response_status, payload[:300])
    if response_status >= 400:
        assert content_type.startswith("application/json"), (method, path, response_status, payload[:300])
        error = json.loads(payload)["error"]
        assert error["code"] in ERROR_CODES and isinstance(error["message"], str), (method, path, error)


def _encodable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError, RecursionError):
        return False


def _kwargs(body_spec):
    kind, value = body_spec
    if kind == "json":
        return {"data": json.dumps(value), "headers": {"Content-Type": "application/json"}}
    if kind == "raw-json":
        return {"data": value.encode("utf-8"), "headers": {"Content-Type": "application/json"}}
    if kind == "none":
        return {}
    return {"data": value, "headers": {"Content-Type": kind} if kind else {}}


def test_fuzz_every_endpoint_in_process(app, make_user):
    app.config.update(RATE_MESSAGES_BURST=10**9, RATE_LOGIN_BURST=10**9)
    alice, first_token = make_user()
    bob, _ = make_user()
    tokens = {"main": first_token}
    conversations.create_group(alice, "fuzz", [bob.id], "public", "all")
    client = app.test_client(use_cookies=False)
    statuses: dict[int, int] = {}

    def token_for(method: str, template: str) -> str:
        if (method, template) in SESSION_ENDING:
            throwaway, _row = accounts._issue_token(alice, "fuzz")
            db.session.commit()
            return throwaway
        return tokens["main"]

    def keep_main_token_alive() -> None:
        # DELETE /auth/tokens/<id> with a small id may revoke the main token itself.
        with app.app_context():
            try:
                accounts.authenticate_token(tokens["main"])
            except Unauthorized:
                tokens["main"], _row = accounts._issue_token(db.session.get(User, alice.id), "fuzz main")
                db.session.commit()

    @settings(max_examples=IN_PROCESS_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(rest_call())
    def run(call):
        method, template, path, params, body_spec, who = call
        kw = _kwargs(body_spec)
        headers = kw.pop("headers", {})
        if who == "good":
            headers["Authorization"] = f"Bearer {token_for(method, template)}"
        elif who == "garbage":
            headers["Authorization"] = "Bearer " + "x" * 43
        with app.app_context():
            response = client.open("/api/v1" + path, method=method, query_string=params, headers=headers, **kw)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if (method, template) in SESSION_ENDING:
            keep_main_token_alive()
        _check(response.status_code, response.content_type or "", response.get_data(), method, path)

    run()
    print(f"in-process REST fuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    # The fuzzer may have left the group (DELETE .../members/<self>): a fresh one, then a normal send.
    headers = {"Authorization": f"Bearer {tokens['main']}"}
    fresh = client.post("/api/v1/conversations", json={"type": "group", "name": "after", "member_ids": [bob.id]},
                        headers=headers)
    assert fresh.status_code == 201, fresh.json
    response = client.post(f"/api/v1/conversations/{fresh.json['conversation']['id']}/messages",
                           json={"body": "after the storm", "client_id": str(uuid.uuid4())}, headers=headers)
    assert response.status_code == 201, response.json


@pytest.mark.e2e
@pytest.mark.parametrize("database", DATABASES)
def test_fuzz_every_endpoint_on_a_real_server(tmp_path, database):
    """On SQLite and on PostgreSQL (which refuses NUL where SQLite stores it): every answer
    is a success or the envelope, within the timeout, and a refused request stores nothing."""
    env = {"CHAT_RATE_MESSAGES_BURST": "1000000", "CHAT_RATE_LOGIN_BURST": "1000000"}
    with live_server(tmp_path, database=database, **env) as server, RowCounter(server) as rows:
        alice = register(server.url)
        session = requests.Session()
        base = server.url + "/api/v1"
        good = {"Authorization": f"Bearer {alice['token']}"}
        session.post(base + "/conversations", json={"type": "group", "name": "f", "member_ids": []},
                     headers=good, timeout=10)
        count = {"n": 0, "refused": 0}

        @settings(max_examples=REAL_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(rest_call())
        def run(call):
            method, template, path, params, body_spec, who = call
            if (method, template) in SESSION_ENDING:
                who = "garbage"  # keep alice's token alive; the in-process run covers these with real tokens
            kw = _kwargs(body_spec)
            headers = kw.pop("headers", {})
            if who == "good":
                headers.update(good)
            elif who == "garbage":
                headers["Authorization"] = "Bearer " + "y" * 43
            before = rows()
            # No hang: every answer within the timeout (requests raises otherwise).
            response = session.request(method, base + path, params=params, headers=headers, timeout=10, **kw)
            count["n"] += 1
            _check(response.status_code, response.headers.get("Content-Type", ""), response.content, method, path)
            if response.status_code >= 400:
                count["refused"] += 1
                assert rows() == before, ("a refused request stored something", method, path, response.text[:300])

        run()
        print(f"real-server REST fuzz ({database}): {count['n']} requests, {count['refused']} refused")
        group = session.post(base + "/conversations", json={"type": "group", "name": "after", "member_ids": []},
                             headers=good, timeout=10).json()["conversation"]
        sent = session.post(base + f"/conversations/{group['id']}/messages", headers=good, timeout=10,
                            json={"body": "after the storm", "client_id": str(uuid.uuid4())})
        assert sent.status_code == 201, sent.text
        assert "Traceback" not in server.log()
