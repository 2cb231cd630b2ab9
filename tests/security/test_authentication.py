"""Authentication as an attacker tries it (issue 11, class 5).

Each test is one reproduction from the issue: before the fix the cookie was
signed with a public default secret and carried only (user id, sequential
token id); any client could pick its address with X-Forwarded-For; register
had no limit; a stranger's wrong guesses locked the real user out; any
``Authorization`` header skipped the CSRF check; raising the Argon2 cost
never upgraded stored hashes.
"""

from __future__ import annotations

import os
import stat
import uuid

import pytest
import requests
from argon2 import PasswordHasher
from flask import Flask

from chatapp import create_app
from chatapp.api.principal import KNOWN_PLACEHOLDERS, _installation_secret
from chatapp.extensions import db
from chatapp.models import User
from chatapp.services import accounts

from .live import PASSWORD, count_rows, live_server, register

XRW = {"X-Requested-With": "XMLHttpRequest"}


# ---------------------------------------------------------------- the signing secret


def test_without_a_configured_secret_each_installation_generates_its_own(tmp_path):
    path = tmp_path / "instance" / "secret_key"
    first = _installation_secret(path)
    assert len(first) >= 32 and first not in KNOWN_PLACEHOLDERS
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert _installation_secret(path) == first  # reused on restart
    assert _installation_secret(tmp_path / "other" / "secret_key") != first  # another installation


def test_the_development_config_never_signs_with_a_public_default(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CHAT_SECRET_KEY", raising=False)
    app = create_app("development", ASYNC_MODE="threading", SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY=None)
    secret = app.config["SECRET_KEY"]
    assert secret not in KNOWN_PLACEHOLDERS and len(secret) >= 32
    assert secret == (open(os.path.join(app.instance_path, "secret_key")).read().strip())
    again = create_app("development", ASYNC_MODE="threading", SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY=None)
    assert again.config["SECRET_KEY"] == secret  # every worker of the installation agrees


@pytest.mark.parametrize("config", ["development", "testing", "production"])
@pytest.mark.parametrize("placeholder", ["dev-insecure-change-me", "testing-secret", "change-me"])
def test_a_published_placeholder_is_refused_in_every_config(config, placeholder):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(config, ASYNC_MODE="threading", SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY=placeholder)


# ---------------------------------------------------------------- the session cookie


def _forge_cookie(secret: str, payload: dict) -> str:
    """What an attacker who knows the signing secret can build: Flask's own session format."""
    forger = Flask("forger")
    forger.secret_key = secret
    return forger.session_interface.get_signing_serializer(forger).dumps(payload)


@pytest.mark.e2e
def test_a_cookie_cannot_be_forged_from_a_user_id_and_a_sequential_token_id(tmp_path):
    """The issue signed {_user_id: victim, tid: n} for n = 1, 2, ... and got GET /me as the victim at n = 10.
    Even with the signing secret leaked, the cookie now needs a proof derived from the token's secret."""
    secret = os.urandom(32).hex()
    with live_server(tmp_path, SECRET_KEY=secret) as server:
        victim = register(server.url)
        for _ in range(3):  # a few more token rows, so the victim's is not the only id
            register(server.url)
        me = server.url + "/api/v1/me"
        assert requests.get(me, headers={"Authorization": f"Bearer {victim['token']}"}, timeout=10).ok
        victim_id = victim["user"]["id"]
        for tid in range(1, 30):
            for extra in ({}, {"tp": "0" * 64}, {"tp": ""}):
                cookie = _forge_cookie(secret, {"_user_id": str(victim_id), "_fresh": True, "tid": tid, **extra})
                response = requests.get(me, cookies={"session": cookie}, timeout=10)
                assert response.status_code == 401, (tid, extra, response.text)
        # The real cookie from a login still works.
        session = requests.Session()
        login = session.post(server.url + "/api/v1/auth/login", timeout=10,
                             json={"username": victim["user"]["username"], "password": PASSWORD})
        assert login.status_code == 200
        assert session.get(me, timeout=10).json()["user"]["id"] == victim_id


# ---------------------------------------------------------------- addresses and throttles


@pytest.mark.e2e
def test_x_forwarded_for_is_ignored_unless_a_proxy_is_configured(tmp_path):
    """60 logins with a random X-Forwarded-For each were never throttled; now the header
    means nothing without CHAT_TRUSTED_PROXIES, and the peer's own address is throttled."""
    with live_server(tmp_path, CHAT_RATE_LOGIN_BURST="2", CHAT_RATE_LOGIN_PER_SECOND="0.01") as server:
        codes = []
        for i in range(60):
            response = requests.post(server.url + "/api/v1/auth/login", timeout=10,
                                     json={"username": f"nobody{i}", "password": "wrong password"},
                                     headers={"X-Forwarded-For": f"10.{i}.{i}.{i}"})
            codes.append(response.status_code)
        # The per-address bucket holds 5 x 2 attempts, then 429.
        assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes


@pytest.mark.e2e
def test_registration_is_limited_per_address(tmp_path):
    """40 accounts in 2.7 s (an Argon2 hash each) from one address; now the burst, then 429."""
    with live_server(tmp_path, CHAT_RATE_REGISTER_BURST="3", CHAT_RATE_REGISTER_PER_SECOND="0.01") as server:
        codes = [requests.post(server.url + "/api/v1/auth/register", timeout=10,
                               json={"username": f"bot{i}{uuid.uuid4().hex[:6]}", "password": PASSWORD}).status_code
                 for i in range(8)]
        assert codes == [201] * 3 + [429] * 5, codes
        refused = requests.post(server.url + "/api/v1/auth/register", timeout=10,
                                json={"username": "onemore", "password": PASSWORD})
        assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
        assert count_rows(server, "users") == 3


@pytest.mark.e2e
def test_a_stranger_cannot_lock_the_real_user_out(tmp_path):
    """Eleven wrong guesses by a stranger made the real user's correct password answer 429."""
    env = {"CHAT_TRUSTED_PROXIES": "1", "CHAT_RATE_LOGIN_BURST": "3", "CHAT_RATE_LOGIN_PER_SECOND": "0.01"}
    with live_server(tmp_path, **env) as server:
        user = register(server.url)
        name = user["user"]["username"]

        def login(password: str, address: str) -> int:
            return requests.post(server.url + "/api/v1/auth/login", json={"username": name, "password": password},
                                 headers={"X-Forwarded-For": address}, timeout=10).status_code

        stranger = [login("wrong password", "203.0.113.7") for _ in range(11)]
        assert stranger[:3] == [401] * 3 and set(stranger[3:]) == {429}, stranger  # the stranger is slowed
        assert login(PASSWORD, "198.51.100.2") == 200  # the owner, from their own address, is not


# ---------------------------------------------------------------- CSRF: the scheme actually used


@pytest.fixture(scope="module")
def csrf_server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("csrf")) as server:
        yield server


def _cookie_session(server) -> requests.Session:
    """A browser-like client: the session cookie of a fresh login, no bearer header."""
    user = register(server.url)
    browser = requests.Session()
    login = browser.post(server.url + "/api/v1/auth/login", timeout=10,
                         json={"username": user["user"]["username"], "password": PASSWORD})
    assert login.status_code == 200 and browser.cookies.get("session")
    return browser


NEW_GROUP = {"type": "group", "name": "csrf", "member_ids": []}


@pytest.mark.e2e
@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "bearer", "Bearer ", "Digest x"])
def test_an_authorization_header_that_is_not_a_bearer_does_not_skip_csrf(csrf_server, header):
    """Authorization: Basic plus the cookie passed the CSRF check."""
    browser = _cookie_session(csrf_server)
    before = count_rows(csrf_server, "conversations")
    response = browser.post(csrf_server.url + "/api/v1/conversations", json=NEW_GROUP, timeout=10,
                            headers={"Authorization": header})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", response.text
    assert count_rows(csrf_server, "conversations") == before


@pytest.mark.e2e
def test_a_bogus_bearer_next_to_the_cookie_is_not_authenticated_by_the_cookie(csrf_server):
    browser = _cookie_session(csrf_server)
    before = count_rows(csrf_server, "conversations")
    response = browser.post(csrf_server.url + "/api/v1/conversations", json=NEW_GROUP, timeout=10,
                            headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized", response.text
    assert count_rows(csrf_server, "conversations") == before
    # The cookie alone, with the CSRF header, still works; so does a real bearer.
    assert browser.post(csrf_server.url + "/api/v1/conversations", json=NEW_GROUP, headers=XRW,
                        timeout=10).status_code == 201
    bot = register(csrf_server.url)
    assert requests.post(csrf_server.url + "/api/v1/conversations", json=NEW_GROUP, timeout=10,
                         headers={"Authorization": f"Bearer {bot['token']}"}).status_code == 201


# ---------------------------------------------------------------- Argon2 parameters


def test_login_rehashes_a_password_made_with_older_argon2_parameters(app, make_user):
    app.config.update(ARGON2_TIME_COST=2, ARGON2_MEMORY_KIB=8 * 1024)
    user, _ = make_user("rehash")
    old_hash = user.password_hash
    app.config.update(ARGON2_TIME_COST=3, ARGON2_MEMORY_KIB=9 * 1024)
    accounts.login("rehash", PASSWORD)
    new_hash = db.session.get(User, user.id).password_hash
    assert new_hash != old_hash
    params = PasswordHasher(time_cost=3, memory_cost=9 * 1024, parallelism=1)
    assert not params.check_needs_rehash(new_hash) and params.verify(new_hash, PASSWORD)
    # With unchanged parameters the hash is left alone.
    accounts.login("rehash", PASSWORD)
    assert db.session.get(User, user.id).password_hash == new_hash
