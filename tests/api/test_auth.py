"""REST accounts: register, login, logout, /me, tokens, and the browser's cookie session."""

from __future__ import annotations

import pytest

from .conftest import Caller, assert_error

PASSWORD = "correct horse"


def test_register_answers_201_with_the_user_and_a_token(app):
    response = Caller(app, None).post("/auth/register", json={"username": "Dave", "password": PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"user", "token"}
    assert body["user"]["username"] == "dave" and body["user"]["display_name"] == "dave"
    assert set(body["user"]) == {"id", "username", "display_name", "online", "last_seen_at"}
    me = Caller(app, body["token"]).get("/me")
    assert me.status_code == 200 and me.get_json() == {"user": {**body["user"], "online": False}}


def test_a_taken_username_is_a_conflict_whatever_its_case(app):
    anonymous = Caller(app, None)
    anonymous.post("/auth/register", json={"username": "dave", "password": PASSWORD})
    assert_error(anonymous.post("/auth/register", json={"username": "DAVE", "password": PASSWORD}), 409, "conflict")


def test_login_answers_the_user_and_a_fresh_token_labelled_by_device(world, app):
    response = Caller(app, None).post(
        "/auth/login", json={"username": "ALICE", "password": PASSWORD, "device_name": "Pixel 8"}
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["id"] == world.alice.id
    assert body["token"] != world.api.token
    tokens = Caller(app, body["token"]).get("/auth/tokens").get_json()["tokens"]
    assert {t["device_name"]: t["current"] for t in tokens} == {"Pixel 8": True, None: False}


@pytest.mark.parametrize("username,password", [("alice", "wrong password"), ("nobody", PASSWORD)])
def test_wrong_credentials_are_401(world, app, username, password):
    response = Caller(app, None).post("/auth/login", json={"username": username, "password": password})
    assert_error(response, 401, "unauthorized")
    assert "set-cookie" not in {k.lower() for k in response.headers.keys()}


def test_logout_revokes_only_the_token_used(world, app):
    second = Caller(app, None).post("/auth/login", json={"username": "alice", "password": PASSWORD}).get_json()
    response = world.api.post("/auth/logout")
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(world.api.get("/me"), 401, "unauthorized")
    assert Caller(app, second["token"]).get("/me").status_code == 200


def test_tokens_are_listed_and_revoked_by_id(world, app):
    other = Caller(app, None).post(
        "/auth/login", json={"username": "alice", "password": PASSWORD, "device_name": "tablet"}
    ).get_json()
    tokens = world.api.get("/auth/tokens").get_json()["tokens"]
    tablet = next(t for t in tokens if t["device_name"] == "tablet")
    assert world.api.delete(f"/auth/tokens/{tablet['id']}").status_code == 204
    assert_error(Caller(app, other["token"]).get("/me"), 401, "unauthorized")
    assert_error(world.bob_api.delete(f"/auth/tokens/{tokens[0]['id']}"), 404, "not_found")
    assert_error(world.api.delete("/auth/tokens/x1"), 400, "validation_error")


# ---------------------------------------------------------------- the browser's cookie session


def _cookie_header(response) -> str:
    cookies = [v for k, v in response.headers.items() if k.lower() == "set-cookie"]
    assert len(cookies) == 1, cookies
    return cookies[0]


@pytest.mark.parametrize("how", ["login", "register"])
def test_login_and_register_set_an_httponly_samesite_lax_session_cookie(world, app, how):
    browser = Caller(app, None, use_cookies=True)
    if how == "login":
        response = browser.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    else:
        response = browser.post("/auth/register", json={"username": "erin", "password": PASSWORD})
    header = _cookie_header(response)
    attributes = {part.strip().lower() for part in header.split(";")}
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    # The cookie is signed session state, not the bearer token.
    assert response.get_json()["token"] not in header


def test_the_cookie_alone_authenticates_every_kind_of_request(world, app):
    browser = Caller(app, None, use_cookies=True)
    browser.post("/auth/login", json={"username": "alice", "password": PASSWORD})
    assert browser.get("/me").get_json()["user"]["id"] == world.alice.id
    assert [c["id"] for c in browser.get("/conversations").get_json()["conversations"]]
    sent = browser.post(f"/conversations/{world.dm}/messages", json={"body": "from the browser", "client_id": "b-1"})
    assert sent.status_code == 201
    message_id = sent.get_json()["message"]["id"]
    assert browser.patch(f"/messages/{message_id}", json={"body": "edited"}).status_code == 200
    assert browser.post(f"/messages/{message_id}/reactions", json={"emoji": "+1"}).status_code == 200
    assert browser.post(f"/conversations/{world.dm}/read", json={"seq": 2}).status_code == 200
    assert browser.delete(f"/messages/{message_id}").status_code == 204
    assert browser.get("/users?q=bo").get_json()["users"][0]["username"] == "bob"


def test_logout_from_the_browser_ends_the_cookie_session_and_its_token(world, app):
    browser = Caller(app, None, use_cookies=True)
    token = browser.post("/auth/login", json={"username": "alice", "password": PASSWORD}).get_json()["token"]
    assert browser.post("/auth/logout").status_code == 204
    assert_error(browser.get("/me"), 401, "unauthorized")
    # The session was bound to a token row: that token is revoked too.
    assert_error(Caller(app, token).get("/me"), 401, "unauthorized")
    # Other sessions of the same user are unaffected.
    assert world.api.get("/me").status_code == 200


def test_revoking_the_sessions_token_elsewhere_ends_the_cookie_session(world, app):
    browser = Caller(app, None, use_cookies=True)
    token = browser.post("/auth/login", json={"username": "alice", "password": PASSWORD}).get_json()["token"]
    assert Caller(app, token).post("/auth/logout").status_code == 204
    assert_error(browser.get("/me"), 401, "unauthorized")


def test_a_forged_cookie_is_unauthorized(world, app):
    browser = Caller(app, None, use_cookies=True)
    browser.client.set_cookie("session", "eyJfdXNlcl9pZCI6IjEiLCJ0aWQiOjF9.forged.signature")
    assert_error(browser.get("/me"), 401, "unauthorized")
