"""Fixtures for the REST specification: a small world of users and conversations,
a caller bound to a bearer token, and the error-envelope assertion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from chatapp.services import conversations, messaging


@pytest.fixture(autouse=True)
def fast_settings(app):
    # Password hashing cost is specified in tests/services/test_accounts.py with
    # the real OWASP parameters; a cheap hash keeps hundreds of REST cases fast.
    app.config.update(ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1, RATE_MESSAGES_BURST=1000)


class Caller:
    """REST calls as one user, by bearer token, on a cookie-less test client."""

    def __init__(self, app, token: str | None, use_cookies: bool = False) -> None:
        self.app = app
        self.client = app.test_client(use_cookies=use_cookies)
        self.token = token
        self.use_cookies = use_cookies

    def request(self, method: str, path: str, headers: dict | None = None, **kw: Any):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if self.use_cookies:
            # A browser client: cookie-authenticated writes carry this header (CSRF, docs/security.md).
            headers.setdefault("X-Requested-With", "XMLHttpRequest")
        # A fresh app context per request, as in production: the fixture's own
        # context would otherwise carry flask.g (Flask-Login's cached user)
        # from one request, and one caller, to the next.
        with self.app.app_context():
            return self.client.open("/api/v1" + path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any):
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any):
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any):
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any):
        return self.request("DELETE", path, **kw)


@dataclass
class World:
    """alice and bob share a direct conversation (with one message of alice's)
    and a private group owned by alice; carol owns a public room and is an
    outsider to everything else."""

    alice: Any
    bob: Any
    carol: Any
    api: Caller  # as alice
    bob_api: Caller
    carol_api: Caller
    dm: int
    message: int
    group: int
    room: int


@pytest.fixture
def world(app, make_user) -> World:
    alice, alice_token = make_user("alice", display_name="Alice")
    bob, bob_token = make_user("bob")
    carol, carol_token = make_user("carol")
    dm, _ = conversations.open_direct(alice, bob.id)
    message, _ = messaging.send_message(alice, dm["id"], "hello bob", "hello-1")
    group = conversations.create_group(alice, "Team", [bob.id])
    room = conversations.create_group(carol, "Lobby", [], visibility="public")
    return World(
        alice, bob, carol,
        Caller(app, alice_token), Caller(app, bob_token), Caller(app, carol_token),
        dm["id"], message["id"], group["id"], room["id"],
    )


def assert_error(response, status: int, code: str) -> dict:
    """The contract's envelope, as JSON, with the expected status and code."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text[:500]
    assert response.mimetype == "application/json", text[:500]
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in text and "<html" not in text.lower()
    return body["error"]
