"""Blocking (PROTOCOL.md v2 "Account and safety", docs/security.md "Blocking").

The matrix: when either of two users blocked the other, their direct conversation
cannot be created and takes no messages (either way; it stays readable), neither
gets the other's presence or typing, group messages still flow, and unblocking
restores everything. The blocked user cannot tell from any other answer.
"""

from __future__ import annotations

import pytest

from chatapp.services import blocks, conversations, messaging, presence, typing_indicator
from tests.services.live_fixtures import published  # noqa: F401

from .conftest import assert_error


def block(caller, user_id: int):
    return caller.post(f"/users/{user_id}/block")


def unblock(caller, user_id: int):
    return caller.delete(f"/users/{user_id}/block")


def send(caller, cid: int, body: str = "hi", client_id: str | None = None):
    return caller.post(f"/conversations/{cid}/messages", json={"body": body, "client_id": client_id or body})


# ---------------------------------------------------------------- the endpoints


def test_blocking_is_idempotent_and_listed_for_the_blocker_only(world):
    assert block(world.api, world.bob.id).status_code == 204
    assert block(world.api, world.bob.id).status_code == 204
    listed = world.api.get("/me/blocks").get_json()["users"]
    assert [u["id"] for u in listed] == [world.bob.id]
    assert set(listed[0]) == {"id", "username", "display_name", "online", "last_seen_at"}
    assert world.bob_api.get("/me/blocks").get_json() == {"users": []}, "who blocked you is never listed"
    assert unblock(world.api, world.bob.id).status_code == 204
    assert unblock(world.api, world.bob.id).status_code == 204
    assert world.api.get("/me/blocks").get_json() == {"users": []}


def test_the_blocks_list_is_most_recent_first(world):
    block(world.api, world.bob.id)
    block(world.api, world.carol.id)
    assert [u["id"] for u in world.api.get("/me/blocks").get_json()["users"]] == [world.carol.id, world.bob.id]


def test_blocking_yourself_is_a_validation_error(world):
    error = assert_error(block(world.api, world.alice.id), 400, "validation_error")
    assert error["fields"] == {"user_id": "you cannot block yourself"}


@pytest.mark.parametrize("path, status, code", [
    ("/users/999999/block", 404, "not_found"),
    ("/users/abc/block", 400, "validation_error"),
    ("/users/0/block", 400, "validation_error"),
])
def test_a_bad_target_is_refused_in_the_envelope(world, path, status, code):
    assert_error(world.api.post(path), status, code)
    assert_error(world.api.delete(path), status, code)


def test_blocking_needs_a_login(app):
    from .conftest import Caller

    assert_error(Caller(app, None).post("/users/1/block"), 401, "unauthorized")
    assert_error(Caller(app, None).get("/me/blocks"), 401, "unauthorized")


# ---------------------------------------------------------------- direct conversations, both directions


@pytest.mark.parametrize("who_blocks", ["alice", "carol"])
def test_no_new_direct_conversation_either_way(world, who_blocks):
    blocker, other = (world.api, world.carol) if who_blocks == "alice" else (world.carol_api, world.alice)
    assert block(blocker, other.id).status_code == 204
    for caller, target in ((world.api, world.carol.id), (world.carol_api, world.alice.id)):
        response = caller.post("/conversations", json={"type": "direct", "user_id": target})
        assert_error(response, 403, "forbidden")
    assert unblock(blocker, other.id).status_code == 204
    assert world.api.post("/conversations", json={"type": "direct", "user_id": world.carol.id}).status_code == 201


@pytest.mark.parametrize("who_blocks", ["alice", "bob"])
def test_no_message_in_the_existing_direct_conversation_either_way_but_it_stays_readable(world, who_blocks):
    blocker, other = (world.api, world.bob) if who_blocks == "alice" else (world.bob_api, world.alice)
    block(blocker, other.id)
    assert_error(send(world.api, world.dm, "from alice"), 403, "forbidden")
    assert_error(send(world.bob_api, world.dm, "from bob"), 403, "forbidden")
    # Opening it again answers the existing one; its history is still there.
    assert world.bob_api.post("/conversations", json={"type": "direct", "user_id": world.alice.id}).status_code == 200
    history = world.bob_api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert [m["body"] for m in history] == ["hello bob"]
    unblock(blocker, other.id)
    assert send(world.api, world.dm, "again").status_code == 201
    assert send(world.bob_api, world.dm, "yes").status_code == 201


def test_the_socket_send_is_refused_the_same_way(world, socket_client, make_user):
    block(world.bob_api, world.alice.id)
    alice_socket = socket_client(world.api.token)
    ack = alice_socket.emit("message:send", {"conversation_id": world.dm, "body": "hi", "client_id": "s-1"},
                            namespace="/chat", callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
    group_ack = alice_socket.emit("message:send", {"conversation_id": world.group, "body": "hi", "client_id": "s-2"},
                                  namespace="/chat", callback=True)
    assert group_ack["ok"] is True


def test_the_refusal_does_not_say_who_blocked_whom(world):
    block(world.bob_api, world.alice.id)
    refused_alice = assert_error(send(world.api, world.dm, "x"), 403, "forbidden")
    unblock(world.bob_api, world.alice.id)
    block(world.api, world.bob.id)
    refused_bob = assert_error(send(world.bob_api, world.dm, "y"), 403, "forbidden")
    assert refused_alice == refused_bob


def test_group_messages_still_flow_between_a_blocked_pair(world, published):  # noqa: F811
    block(world.api, world.bob.id)
    response = send(world.bob_api, world.group, "from bob in the group")
    assert response.status_code == 201
    [new] = published.named("message:new")
    assert world.alice.id in new.users
    assert send(world.api, world.group, "and alice answers").status_code == 201


# ---------------------------------------------------------------- presence and typing, both directions


@pytest.mark.parametrize("who_blocks", ["alice", "bob"])
def test_neither_gets_the_others_presence(world, published, who_blocks):  # noqa: F811
    blocker, blocked = (world.alice, world.bob) if who_blocks == "alice" else (world.bob, world.alice)
    blocks.block(blocker, blocked.id)
    for user, other in ((world.alice, world.bob), (world.bob, world.alice)):
        published.clear()
        presence.connect(user, f"{user.username}-phone")
        events = published.named("presence")
        assert events and all(other.id not in e.users for e in events), f"{other.username} saw {user.username}"
    # Where a User appears, the other reads as offline (and as they would when really offline).
    alice_as_bob_sees_her = world.bob_api.get(f"/users/{world.alice.id}").get_json()["user"]
    assert alice_as_bob_sees_her["online"] is False
    dm = world.api.get(f"/conversations/{world.dm}").get_json()["conversation"]
    assert {m["id"]: m["online"] for m in dm["members"]} == {world.alice.id: True, world.bob.id: False}
    blocks.unblock(blocker, blocked.id)
    assert world.bob_api.get(f"/users/{world.alice.id}").get_json()["user"]["online"] is True


def test_presence_still_reaches_everyone_else(world, published):  # noqa: F811
    blocks.block(world.alice, world.bob.id)
    carol_dm, _ = conversations.open_direct(world.carol, world.alice.id)
    published.clear()
    presence.connect(world.alice, "phone")
    [event] = published.named("presence")
    assert event.users == (world.carol.id,)


@pytest.mark.parametrize("who_blocks", ["alice", "bob"])
def test_neither_sees_the_other_type_in_a_shared_group(world, published, who_blocks):  # noqa: F811
    conversations.add_member(world.alice, world.group, world.carol.id)
    blocker, blocked = (world.alice, world.bob) if who_blocks == "alice" else (world.bob, world.alice)
    blocks.block(blocker, blocked.id)
    typing_indicator.set_typing(world.alice, world.group, True)
    typing_indicator.set_typing(world.bob, world.group, True)
    to = {(e.payload["user_id"], uid) for e in published.named("typing") for uid in e.users}
    assert to == {(world.alice.id, world.carol.id), (world.bob.id, world.carol.id)}


def test_unblocking_restores_typing_and_presence(world, published):  # noqa: F811
    blocks.block(world.alice, world.bob.id)
    blocks.unblock(world.alice, world.bob.id)
    typing_indicator.set_typing(world.alice, world.dm, True)
    presence.connect(world.bob, "phone")
    assert [e.users for e in published.named("typing")] == [(world.bob.id,)]
    assert world.alice.id in published.named("presence")[0].users


# ---------------------------------------------------------------- the blocked user cannot tell


def test_every_other_answer_is_the_same_with_and_without_the_block(world):
    """What bob (blocked) sees of alice (offline) does not change when alice blocks him."""
    messaging.send_message(world.alice, world.group, "in the group", "g-1")

    def what_bob_sees() -> dict:
        return {
            "user": world.bob_api.get(f"/users/{world.alice.id}").get_json(),
            "search": world.bob_api.get("/users?q=ali").get_json(),
            "conversations": world.bob_api.get("/conversations").get_json(),
            "dm": world.bob_api.get(f"/conversations/{world.dm}").get_json(),
            "history": world.bob_api.get(f"/conversations/{world.dm}/messages").get_json(),
            "blocks": world.bob_api.get("/me/blocks").get_json(),
            "open": world.bob_api.post("/conversations", json={"type": "direct", "user_id": world.alice.id}).get_json(),
        }

    before = what_bob_sees()
    block(world.api, world.bob.id)
    assert what_bob_sees() == before
    # Blocking also leaves the blocker's own view of the blocked user as it was (offline).
    assert world.api.get(f"/users/{world.bob.id}").get_json()["user"]["online"] is False
