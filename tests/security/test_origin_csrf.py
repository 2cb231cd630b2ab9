"""Cross-site protections: CSRF on cookie-authenticated REST writes, Origin on
cookie-authenticated sockets, secure cookies and a real SECRET_KEY in production.

The design (docs/security.md): the session cookie is honoured only for
requests the browser cannot be tricked into sending from another site;
bearer tokens are never sent by a browser on its own, so they are exempt.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
import socketio
from sqlalchemy import func, select

from chatapp import create_app
from chatapp.extensions import db
from chatapp.models import Conversation, Message
from tests.conftest import reset_database
from tests.support.server import PYTHON, ROOT

from .live import PASSWORD, live_server, register

EVIL = "https://evil.example"
XRW = {"X-Requested-With": "XMLHttpRequest"}


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def cookie_client(app, make_user):
    """A Flask test client holding the session cookie of a fresh login (no bearer header)."""
    user, _token = make_user("cookieuser")
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"username": "cookieuser", "password": "correct horse"})
    assert response.status_code == 200
    assert client.get_cookie("session") is not None
    return client


# ---------------------------------------------------------------- CSRF on REST


def test_cookie_write_without_the_header_is_refused_and_stores_nothing(app, cookie_client):
    response = cookie_client.post("/api/v1/conversations", json={"type": "group", "name": "csrf", "member_ids": []})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert "X-Requested-With" in response.json["error"]["message"]
    assert _count(Conversation) == 0


def test_cookie_write_with_the_header_works(app, cookie_client):
    response = cookie_client.post(
        "/api/v1/conversations", json={"type": "group", "name": "ok", "member_ids": []}, headers=XRW
    )
    assert response.status_code == 201, response.json
    same_origin = {**XRW, "Origin": "http://localhost"}
    response = cookie_client.post(
        "/api/v1/conversations", json={"type": "group", "name": "ok2", "member_ids": []}, headers=same_origin
    )
    assert response.status_code == 201, response.json


def test_cookie_write_from_a_foreign_origin_is_refused_even_with_the_header(app, cookie_client):
    response = cookie_client.post(
        "/api/v1/conversations", json={"type": "group", "name": "x", "member_ids": []}, headers={**XRW, "Origin": EVIL}
    )
    assert response.status_code == 403
    assert _count(Conversation) == 0


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_every_unsafe_method_is_covered(app, cookie_client, method):
    created = cookie_client.post(
        "/api/v1/conversations", json={"type": "group", "name": "g", "member_ids": []}, headers=XRW
    ).json["conversation"]
    sent = cookie_client.post(
        f"/api/v1/conversations/{created['id']}/messages", json={"body": "keep me", "client_id": "c1"}, headers=XRW
    ).json["message"]
    if method == "PATCH":
        response = cookie_client.patch(f"/api/v1/messages/{sent['id']}", json={"body": "hijacked"})
    else:
        response = cookie_client.delete(f"/api/v1/messages/{sent['id']}")
    assert response.status_code == 403
    stored = db.session.get(Message, sent["id"])
    db.session.refresh(stored)
    assert stored.body == "keep me" and not stored.deleted


def test_cookie_logout_needs_the_header_too(app, cookie_client):
    assert cookie_client.post("/api/v1/auth/logout").status_code == 403
    assert cookie_client.get("/api/v1/me").status_code == 200  # still logged in
    assert cookie_client.post("/api/v1/auth/logout", headers=XRW).status_code == 204
    assert cookie_client.get("/api/v1/me").status_code == 401


def test_safe_methods_need_no_header(app, cookie_client):
    assert cookie_client.get("/api/v1/me").status_code == 200
    assert cookie_client.get("/api/v1/conversations").status_code == 200


def test_bearer_requests_are_exempt(app, client, make_user, auth_headers):
    _user, token = make_user()
    headers = {**auth_headers(token), "Origin": EVIL}
    response = client.post("/api/v1/conversations", json={"type": "group", "name": "b", "member_ids": []},
                           headers=headers)
    assert response.status_code == 201


def test_login_from_a_foreign_origin_is_refused(app, client, make_user):
    make_user("victim1")
    response = client.post("/api/v1/auth/login", json={"username": "victim1", "password": "correct horse"},
                           headers={"Origin": EVIL})
    assert response.status_code == 403
    response = client.post("/api/v1/auth/register", json={"username": "newbie", "password": "correct horse"},
                           headers={"Origin": EVIL})
    assert response.status_code == 403
    response = client.post("/api/v1/auth/login", json={"username": "victim1", "password": "correct horse"})
    assert response.status_code == 200


def test_login_works_with_a_leftover_session_cookie(app, cookie_client):
    """The web client logs in without a token while an old cookie may still be there."""
    response = cookie_client.post("/api/v1/auth/login", json={"username": "cookieuser", "password": "correct horse"})
    assert response.status_code == 200


def test_configured_origin_is_allowed_for_cookie_writes(database_url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, CORS_ALLOWED_ORIGINS=["https://app.example"])
    with app.app_context():
        db.create_all()
        try:
            from chatapp.services import accounts

            accounts.register("listed", "correct horse")
            client = app.test_client()
            client.post("/api/v1/auth/login", json={"username": "listed", "password": "correct horse"})
            ok = client.post("/api/v1/conversations", json={"type": "group", "name": "l", "member_ids": []},
                             headers={**XRW, "Origin": "https://app.example"})
            assert ok.status_code == 201
            bad = client.post("/api/v1/conversations", json={"type": "group", "name": "l", "member_ids": []},
                              headers={**XRW, "Origin": "https://app.example.evil.example"})
            assert bad.status_code == 403
        finally:
            reset_database()


def test_web_client_sends_bearer_on_every_authenticated_call():
    """mobile_client's REST layer authenticates with its token, so CSRF rules never apply to it."""
    rest = (ROOT / "mobile_client" / "src" / "core" / "rest.ts").read_text()
    assert "headers.Authorization = `Bearer ${token}`" in rest
    assert "credentials:" not in rest  # no cross-origin cookie mode


# ---------------------------------------------------------------- Origin on sockets (real server)


def _cookie_for(server_url: str, username: str) -> str:
    session = requests.Session()
    response = session.post(server_url + "/api/v1/auth/login", json={"username": username, "password": PASSWORD},
                             timeout=10)
    assert response.status_code == 200
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def _try_connect(url: str, transport: str, *, auth=None, cookie: str | None = None,
                 origin: str | None = None) -> tuple[bool, object]:
    """(connected, refusal data or error text). ``origin`` None sends no Origin at all."""
    headers = {"Cookie": cookie} if cookie else {}
    if transport == "polling" and origin:
        headers["Origin"] = origin
    # websocket-client writes its own Origin header; set it (or suppress it) there, not twice.
    ws_options = {"origin": origin} if origin else {"suppress_origin": True}
    client = socketio.Client(reconnection=False, websocket_extra_options=ws_options)
    refusal: list[object] = []
    client.on("connect_error", lambda data=None: refusal.append(data), namespace="/chat")
    try:
        client.connect(url, namespaces=["/chat"], transports=[transport], auth=auth, headers=headers, wait_timeout=5)
    except socketio.exceptions.ConnectionError as exc:
        if refusal and isinstance(refusal[0], dict):
            # python-socketio hands over {message, data}; data is the contract's envelope fields.
            return False, refusal[0].get("data", refusal[0])
        return False, refusal[0] if refusal else str(exc)
    connected = client.connected
    client.disconnect()
    return connected, None


@pytest.fixture(scope="module", params=["default", "star"])
def origin_server(request, tmp_path_factory):
    env = {"CHAT_CORS_ALLOWED_ORIGINS": "*"} if request.param == "star" else {}
    with live_server(tmp_path_factory.mktemp("origin"), **env) as srv:
        user = register(srv.url)
        yield request.param, srv, user


@pytest.mark.e2e
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_cookie_socket_from_an_evil_origin_is_refused(origin_server, transport):
    mode, server, user = origin_server
    cookie = _cookie_for(server.url, user["user"]["username"])
    connected, why = _try_connect(server.url, transport, cookie=cookie, origin=EVIL)
    assert not connected
    if mode == "star":
        # engineio lets any origin in; our check refuses to lend the cookie.
        assert isinstance(why, dict) and why["code"] == "forbidden", why
    # Same cookie from the server's own origin: accepted.
    connected, why = _try_connect(server.url, transport, cookie=cookie, origin=server.url)
    assert connected, why
    # And without any Origin (not a browser): the cookie alone works.
    connected, why = _try_connect(server.url, transport, cookie=cookie)
    assert connected, why


@pytest.mark.e2e
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_bearer_sockets_need_no_origin(origin_server, transport):
    mode, server, user = origin_server
    connected, why = _try_connect(server.url, transport, auth={"token": user["token"]})
    assert connected, why
    # A bearer client on another site: refused by engineio's same-origin default,
    # allowed once "*" (or that origin) is configured.
    connected, why = _try_connect(server.url, transport, auth={"token": user["token"]}, origin=EVIL)
    assert connected is (mode == "star"), why


@pytest.mark.e2e
def test_anonymous_socket_is_refused_with_the_envelope(origin_server):
    _mode, server, _user = origin_server
    connected, why = _try_connect(server.url, "websocket", auth={"token": "not-a-token"})
    assert not connected and isinstance(why, dict) and why["code"] == "unauthorized", why


# ---------------------------------------------------------------- production settings


def test_production_refuses_the_placeholder_secret(monkeypatch):
    monkeypatch.setenv("CHAT_CONFIG", "production")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production", ASYNC_MODE="threading", SQLALCHEMY_DATABASE_URI="sqlite://")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production", ASYNC_MODE="threading", SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY="short")


def test_production_server_process_will_not_start_without_a_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "CHAT_SECRET_KEY")}
    env.update(CHAT_CONFIG="production", CHAT_ASYNC_MODE="threading", PORT="1",
               CHAT_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}")
    result = subprocess.run([PYTHON, "wsgi.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "production needs SECRET_KEY" in result.stderr


def test_production_session_cookie_is_secure(monkeypatch):
    monkeypatch.setenv("CHAT_CONFIG", "production")
    app = create_app("production", ASYNC_MODE="threading", SQLALCHEMY_DATABASE_URI="sqlite://",
                     SECRET_KEY=os.urandom(32).hex(), PUSH_WORKER=False,
                     UPLOAD_PURGE_WORKER=False)  # no loop outliving this test's database
    with app.app_context():
        db.create_all()
        try:
            from chatapp.services import accounts

            accounts.register("produser", "correct horse")
            client = app.test_client()
            response = client.post("/api/v1/auth/login", json={"username": "produser", "password": "correct horse"},
                                   base_url="https://chat.example")
            assert response.status_code == 200
            cookie = response.headers["Set-Cookie"]
            assert cookie.startswith("__Host-session=")
            for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
                assert flag in cookie, cookie
            assert "Domain=" not in cookie  # the __Host- prefix forbids it
        finally:
            db.session.remove()
            db.drop_all()
