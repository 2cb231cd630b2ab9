"""Account management over REST (PROTOCOL.md v2 "Account and safety"): the display
name, the password, closing the account, and the export.

Events are read from the recorder that replaces the last hop (the Socket.IO emit);
tests/e2e/test_account_e2e.py proves the same over real sockets on two workers.
"""

from __future__ import annotations

import io
import json

import pytest

from chatapp.extensions import db
from chatapp.models import ApiToken, PushSubscription
from chatapp.services import accounts, conversations, messaging, sync
from tests.services.live_fixtures import published  # noqa: F401

from .conftest import Caller, assert_error

PASSWORD = "correct horse"


def login(app, username: str, password: str = PASSWORD, device: str = "phone"):
    return Caller(app, None).post("/auth/login", json={"username": username, "password": password,
                                                       "device_name": device})


def second_device(app, username: str) -> Caller:
    response = login(app, username)
    assert response.status_code == 200, response.get_data(as_text=True)
    return Caller(app, response.get_json()["token"])


# ---------------------------------------------------------------- PATCH /me


def test_a_new_display_name_is_answered_and_seen_by_everyone(world):
    response = world.api.patch("/me", json={"display_name": "  Alice Liddell "})
    assert response.status_code == 200
    assert response.get_json()["user"]["display_name"] == "Alice Liddell"  # trimmed
    assert world.api.get("/me").get_json()["user"]["display_name"] == "Alice Liddell"
    assert world.bob_api.get(f"/users/{world.alice.id}").get_json()["user"]["display_name"] == "Alice Liddell"
    dm = world.bob_api.get(f"/conversations/{world.dm}").get_json()["conversation"]
    assert {m["id"]: m["display_name"] for m in dm["members"]}[world.alice.id] == "Alice Liddell"


def test_user_updated_reaches_each_contact_once_with_the_new_versions_and_never_a_stranger(world, published):  # noqa: F811
    before = {c["id"]: c["version"] for c in world.bob_api.get("/conversations").get_json()["conversations"]}
    world.api.patch("/me", json={"display_name": "Alice L."})
    updates = published.named("user:updated")
    to_bob = [e for e in updates if world.bob.id in e.users]
    assert len(to_bob) == 1, "bob shares a DM and a group with alice: one event, not one per conversation"
    payload = to_bob[0].payload
    assert payload["user"]["id"] == world.alice.id and payload["user"]["display_name"] == "Alice L."
    after = {c["id"]: c["version"] for c in world.bob_api.get("/conversations").get_json()["conversations"]}
    # Both shared conversations changed (their member lists): a new version each, carried by the event.
    assert payload["versions"] == {str(world.dm): after[world.dm], str(world.group): after[world.group]}
    assert after[world.dm] == before[world.dm] + 1 and after[world.group] == before[world.group] + 1
    assert [e for e in updates if world.carol.id in e.users] == []
    assert [e for e in updates if world.alice.id in e.users], "her own other devices learn it too"


def test_the_same_display_name_again_changes_nothing(world, published):  # noqa: F811
    versions = world.bob_api.get(f"/conversations/{world.dm}").get_json()["conversation"]["version"]
    assert world.api.patch("/me", json={"display_name": "Alice"}).status_code == 200
    assert published.named("user:updated") == []
    assert world.bob_api.get(f"/conversations/{world.dm}").get_json()["conversation"]["version"] == versions


def test_a_device_that_was_offline_learns_the_new_name_through_sync(world):
    held = {str(c["id"]): c["version"] for c in world.bob_api.get("/conversations").get_json()["conversations"]}
    cursors = {str(c["id"]): c["last_seq"] for c in world.bob_api.get("/conversations").get_json()["conversations"]}
    world.api.patch("/me", json={"display_name": "Alice L."})
    answer = sync.sync(world.bob, cursors, 100, held)
    changed = {c["id"]: c for c in answer["conversations"]}
    assert set(changed) == {world.dm, world.group}
    for conversation in changed.values():
        assert {m["id"]: m["display_name"] for m in conversation["members"]}[world.alice.id] == "Alice L."


@pytest.mark.parametrize("body", [{}, {"display_name": ""}, {"display_name": "   "}, {"display_name": 7},
                                  {"display_name": None}, {"display_name": "x" * 65}, {"display_name": "a\x00b"}])
def test_a_bad_display_name_is_a_validation_error(world, body):
    error = assert_error(world.api.patch("/me", json=body), 400, "validation_error")
    assert "display_name" in error.get("fields", {}) or "display_name" in error["message"]


def test_display_name_changes_are_rate_limited(world, app):
    app.config.update(RATE_PROFILE_BURST=2)
    for name in ("One", "Two"):
        assert world.api.patch("/me", json={"display_name": name}).status_code == 200
    error = assert_error(world.api.patch("/me", json={"display_name": "Three"}), 429, "rate_limited")
    assert error["retry_after"] >= 1


# ---------------------------------------------------------------- POST /auth/password


def test_changing_the_password_ends_every_other_login_and_keeps_this_one(world, app, published):  # noqa: F811
    phone = second_device(app, "alice")
    laptop = second_device(app, "alice")
    change = {"current_password": PASSWORD, "new_password": "new horse battery"}
    response = world.api.post("/auth/password", json=change)
    assert response.status_code == 204
    assert world.api.get("/me").status_code == 200, "the caller's token stays valid"
    assert_error(phone.get("/me"), 401, "unauthorized")
    assert_error(laptop.get("/me"), 401, "unauthorized")
    revoked = published.named("session:revoked")
    live = db.session.scalars(db.select(ApiToken.id).where(ApiToken.user_id == world.alice.id,
                                                         ApiToken.revoked_at.is_(None))).all()
    assert len(live) == 1
    assert {e.payload["reason"] for e in revoked} == {"password_changed"}
    assert all(e.disconnect for e in revoked)
    assert sorted(e.rooms for e in revoked) == sorted((f"token:{e.payload['token_id']}",) for e in revoked)
    assert f"token:{live[0]}" not in {room for e in revoked for room in e.rooms}
    assert_error(login(app, "alice"), 401, "unauthorized")
    assert login(app, "alice", "new horse battery").status_code == 200


def test_a_wrong_current_password_is_forbidden_and_the_caller_stays_signed_in(world, app):
    phone = second_device(app, "alice")
    response = world.api.post("/auth/password", json={"current_password": "not it at all", "new_password": "x" * 12})
    assert_error(response, 403, "forbidden")
    assert world.api.get("/me").status_code == 200
    assert phone.get("/me").status_code == 200, "nothing was revoked"
    assert login(app, "alice").status_code == 200, "the password is unchanged"


def test_a_browser_session_survives_its_own_password_change(app, world):
    browser = Caller(app, None, use_cookies=True)
    assert browser.post("/auth/login", json={"username": "bob", "password": PASSWORD}).status_code == 200
    response = browser.post("/auth/password", json={"current_password": PASSWORD, "new_password": "another horse"})
    assert response.status_code == 204
    assert browser.get("/me").status_code == 200
    assert_error(world.bob_api.get("/me"), 401, "unauthorized")  # bob's other login (the fixture's token)


@pytest.mark.parametrize("body, field", [
    ({"new_password": "long enough"}, "current_password"),
    ({"current_password": PASSWORD}, "new_password"),
    ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
    ({"current_password": 5, "new_password": "long enough"}, "current_password"),
])
def test_a_malformed_password_change_is_a_validation_error(world, body, field):
    error = assert_error(world.api.post("/auth/password", json=body), 400, "validation_error")
    assert field in error.get("fields", {}) or field in error["message"]


def test_wrong_password_guesses_are_rate_limited_like_logins(world, app):
    app.config.update(RATE_LOGIN_BURST=2)
    for _ in range(2):
        world.api.post("/auth/password", json={"current_password": "guess guess", "new_password": "x" * 12})
    response = world.api.post("/auth/password", json={"current_password": "guess guess", "new_password": "x" * 12})
    assert_error(response, 429, "rate_limited")


# ---------------------------------------------------------------- DELETE /me


def close(caller: Caller, password: str = PASSWORD):
    return caller.delete("/me", json={"password": password})


def test_closing_needs_the_password_and_a_wrong_one_leaves_everything_as_it_was(world):
    assert_error(close(world.api, "not my password"), 403, "forbidden")
    assert world.api.get("/me").status_code == 200
    assert_error(world.api.delete("/me"), 400, "validation_error")  # no body
    assert_error(world.api.delete("/me", json={"password": 5}), 400, "validation_error")


def test_a_closed_account_cannot_log_in_and_its_name_stays_taken(world, app):
    assert close(world.api).status_code == 204
    assert_error(world.api.get("/me"), 401, "unauthorized")
    assert_error(login(app, "alice"), 401, "unauthorized")
    assert_error(Caller(app, None).post("/auth/register", json={"username": "alice", "password": PASSWORD}),
                 409, "conflict")
    # Nobody can pose as a closed account under its new name either.
    taken = Caller(app, None).post("/auth/register", json={"username": f"deleted-{world.alice.id}",
                                                          "password": PASSWORD})
    assert_error(taken, 409, "conflict")


def test_every_login_ends_and_every_socket_is_told_account_closed(world, app, published):  # noqa: F811
    phone = second_device(app, "alice")
    assert close(world.api).status_code == 204
    assert_error(phone.get("/me"), 401, "unauthorized")
    [revoked] = published.named("session:revoked")
    assert revoked.payload == {"reason": "account_closed"}
    assert revoked.rooms == (accounts.user_room(world.alice.id),) and revoked.disconnect


def test_a_closed_account_reads_as_deleted_user_everywhere_and_its_messages_stay(world):
    assert close(world.api).status_code == 204
    deleted = {"id": world.alice.id, "username": f"deleted-{world.alice.id}", "display_name": "Deleted user",
               "online": False, "last_seen_at": None}
    assert world.bob_api.get(f"/users/{world.alice.id}").get_json()["user"] == deleted
    dm = world.bob_api.get(f"/conversations/{world.dm}").get_json()["conversation"]
    assert deleted in dm["members"]
    history = world.bob_api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert [(m["id"], m["sender_id"], m["body"]) for m in history] == [(world.message, world.alice.id, "hello bob")]
    assert world.bob_api.get("/users?q=ali").get_json()["users"] == []
    assert world.bob_api.get("/users?q=deleted").get_json()["users"] == []


def test_closing_leaves_every_group_and_ownership_passes_on(world, published):  # noqa: F811
    assert close(world.api).status_code == 204
    group = world.bob_api.get(f"/conversations/{world.group}").get_json()["conversation"]
    assert [m["id"] for m in group["members"]] == [world.bob.id]
    assert group["roles"] == {str(world.bob.id): "owner"}
    left = [e.payload for e in published.named("member:left") if world.bob.id in e.users]
    assert [(p["conversation_id"], p["user"]["id"]) for p in left] == [(world.group, world.alice.id)]


def test_someone_who_only_shared_a_group_is_told_of_the_deleted_user_too(world, published):  # noqa: F811
    added = world.api.post(f"/conversations/{world.group}/members", json={"user_id": world.carol.id})
    assert added.status_code == 200, added.get_data(as_text=True)
    published.clear()
    assert close(world.api).status_code == 204
    to_carol = [e.payload for e in published.named("user:updated") if world.carol.id in e.users]
    assert [(p["user"]["id"], p["user"]["display_name"]) for p in to_carol] == [(world.alice.id, "Deleted user")]


def test_the_direct_conversation_stays_readable_but_takes_no_new_messages(world):
    assert close(world.api).status_code == 204
    assert world.bob_api.get(f"/conversations/{world.dm}/messages").status_code == 200
    sent = world.bob_api.post(f"/conversations/{world.dm}/messages", json={"body": "hello?", "client_id": "c-1"})
    assert_error(sent, 403, "forbidden")
    assert_error(world.carol_api.post("/conversations", json={"type": "direct", "user_id": world.alice.id}),
                 404, "not_found")


def test_opening_the_existing_direct_conversation_with_a_closed_account_answers_it(world):
    assert close(world.api).status_code == 204
    opened = world.bob_api.post("/conversations", json={"type": "direct", "user_id": world.alice.id})
    assert opened.status_code == 200, opened.get_data(as_text=True)
    assert opened.get_json()["conversation"]["id"] == world.dm


def test_a_contact_that_was_offline_sees_the_deleted_user_after_sync(world):
    conversations_now = world.bob_api.get("/conversations").get_json()["conversations"]
    cursors = {str(c["id"]): c["last_seq"] for c in conversations_now}
    versions = {str(c["id"]): c["version"] for c in conversations_now}
    assert close(world.api).status_code == 204
    answer = sync.sync(world.bob, cursors, 100, versions)
    dm = next(c for c in answer["conversations"] if c["id"] == world.dm)
    assert {m["id"]: m["username"] for m in dm["members"]}[world.alice.id] == f"deleted-{world.alice.id}"
    group = next(c for c in answer["conversations"] if c["id"] == world.group)
    assert [m["id"] for m in group["members"]] == [world.bob.id]


def test_closing_deletes_the_push_subscriptions(world):
    body = {"type": "fcm", "token": "fcm-token-of-alice", "device_name": "Pixel"}
    assert world.api.post("/push/subscriptions", json=body).status_code == 201
    assert close(world.api).status_code == 204
    assert db.session.scalars(db.select(PushSubscription).where(PushSubscription.user_id == world.alice.id)).all() == []


# ---------------------------------------------------------------- GET /me/export


def upload(caller: Caller, data: bytes, name: str) -> dict:
    response = caller.post("/uploads", data={"file": (io.BytesIO(data), name, "text/plain")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    return response.get_json()["upload"]


def test_the_export_is_a_download_of_exactly_the_users_own_data(world, app):
    phone = second_device(app, "alice")
    device = {"type": "fcm", "token": "fcm-registration-secret", "device_name": "Pixel"}
    subscribed = world.api.post("/push/subscriptions", json=device)
    assert subscribed.status_code == 201
    notes = upload(world.api, b"my notes", "notes.txt")
    with_file, _ = messaging.send_message(world.alice, world.group, "see attached", "att-1",
                                          attachments=[notes["id"]])
    reply, _ = messaging.send_message(world.alice, world.dm, "again", "r-1", reply_to=world.message)
    gone, _ = messaging.send_message(world.alice, world.dm, "oops", "d-1")
    messaging.delete_message(world.alice, gone["id"])
    bobs, _ = messaging.send_message(world.bob, world.dm, "bob's own words", "b-1")
    conversations.join(world.alice, world.room)

    response = world.api.get("/me/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="chat-export-alice.json"'
    text = response.get_data(as_text=True)
    data = json.loads(text)
    assert set(data) == {"exported_at", "user", "tokens", "conversations", "messages", "push_subscriptions",
                         "uploads"}
    assert data["user"]["id"] == world.alice.id and data["user"]["username"] == "alice"
    assert data["user"]["display_name"] == "Alice"
    # Logins: labels and times, never a secret or its hash.
    assert sorted((t["device_name"] or "") for t in data["tokens"]) == ["", "phone"]
    assert all(set(t) == {"id", "device_name", "created_at", "last_used_at", "revoked_at"} for t in data["tokens"])
    assert phone.token not in text and world.api.token not in text
    assert not any(row.token_hash in text for row in db.session.scalars(db.select(ApiToken)))
    assert "password" not in text.lower() and world.alice.password_hash not in text
    # Conversations: the ones she is in, with members' ids and usernames.
    listed = {c["id"]: c for c in data["conversations"]}
    assert set(listed) == {world.dm, world.group, world.room}
    assert listed[world.dm]["type"] == "direct" and listed[world.dm]["role"] is None
    assert listed[world.group]["role"] == "owner"
    assert listed[world.dm]["members"] == [{"id": world.alice.id, "username": "alice"},
                                          {"id": world.bob.id, "username": "bob"}]
    # Messages: every one she sent, none of anyone else's.
    messages = {m["id"]: m for m in data["messages"]}
    assert set(messages) == {world.message, with_file["id"], reply["id"], gone["id"]}
    assert bobs["id"] not in messages and "bob's own words" not in text
    assert messages[with_file["id"]]["attachments"] == [notes["id"]]
    assert messages[reply["id"]]["reply_to"] == world.message
    assert messages[gone["id"]]["deleted"] is True and messages[gone["id"]]["body"] == ""
    assert messages[world.message]["body"] == "hello bob"
    assert data["push_subscriptions"][0]["device_name"] == "Pixel" and "fcm-registration-secret" not in text
    assert [(u["id"], u["name"], u["message_id"]) for u in data["uploads"]] == [
        (notes["id"], "notes.txt", with_file["id"])
    ]


def test_the_export_needs_a_login(app):
    assert_error(Caller(app, None).get("/me/export"), 401, "unauthorized")
