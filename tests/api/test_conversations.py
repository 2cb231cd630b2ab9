"""REST conversations: the list, direct and group creation, one conversation,
read positions, public rooms, joining and membership; plus /users and /healthz."""

from __future__ import annotations

import pytest

from .conftest import assert_error


def test_opening_a_direct_conversation_is_201_then_200_with_the_same_conversation(world):
    created = world.api.post("/conversations", json={"type": "direct", "user_id": world.carol.id})
    again = world.api.post("/conversations", json={"type": "direct", "user_id": world.carol.id})
    from_carol = world.carol_api.post("/conversations", json={"type": "direct", "user_id": world.alice.id})
    assert (created.status_code, again.status_code, from_carol.status_code) == (201, 200, 200)
    ids = {r.get_json()["conversation"]["id"] for r in (created, again, from_carol)}
    assert len(ids) == 1
    conversation = created.get_json()["conversation"]
    assert conversation["type"] == "direct"
    assert {m["id"] for m in conversation["members"]} == {world.alice.id, world.carol.id}


def test_opening_a_direct_conversation_with_an_unknown_user_is_404(world):
    assert_error(world.api.post("/conversations", json={"type": "direct", "user_id": 99999}), 404, "not_found")


def test_the_list_is_most_recent_activity_first_with_last_message_and_unread(world):
    listed = world.bob_api.get("/conversations").get_json()
    assert listed["next_cursor"] is None
    # The group was created after the direct message.
    assert [c["id"] for c in listed["conversations"]] == [world.group, world.dm]
    world.api.post(f"/conversations/{world.dm}/messages", json={"body": "newest", "client_id": "n1"})
    listed = world.bob_api.get("/conversations").get_json()["conversations"]
    assert [c["id"] for c in listed] == [world.dm, world.group]
    dm = listed[0]
    assert dm["last_message"]["body"] == "newest"
    assert (dm["last_seq"], dm["unread_count"], dm["last_read_seq"]) == (2, 2, 0)
    for key in ("id", "type", "name", "members", "last_seq", "last_message", "unread_count", "last_read_seq",
                "created_at", "updated_at"):
        assert key in dm


def test_the_list_pages_with_a_cursor_until_it_is_null(world):
    first = world.api.get("/conversations?limit=1").get_json()
    assert len(first["conversations"]) == 1 and first["next_cursor"]
    second = world.api.get(f"/conversations?limit=1&cursor={first['next_cursor']}").get_json()
    assert len(second["conversations"]) == 1
    assert second["next_cursor"] is None
    assert {c["id"] for c in first["conversations"] + second["conversations"]} == {world.dm, world.group}


def test_get_conversation_for_a_member(world):
    response = world.bob_api.get(f"/conversations/{world.dm}")
    assert response.status_code == 200
    assert response.get_json()["conversation"]["id"] == world.dm


def test_creating_a_group_makes_the_caller_owner_with_contract_defaults(world):
    body = {"type": "group", "name": " Book club ", "member_ids": [world.bob.id]}
    response = world.api.post("/conversations", json=body)
    assert response.status_code == 201
    group = response.get_json()["conversation"]
    assert group["name"] == "Book club"
    assert (group["visibility"], group["posting"]) == ("private", "all")
    assert group["roles"] == {str(world.alice.id): "owner", str(world.bob.id): "member"}


def test_read_moves_forward_only_and_is_clamped_to_last_seq(world):
    read = world.bob_api.post(f"/conversations/{world.dm}/read", json={"seq": 99})
    assert read.status_code == 200
    assert read.get_json() == {"conversation_id": world.dm, "last_read_seq": 1, "unread_count": 0}
    back = world.bob_api.post(f"/conversations/{world.dm}/read", json={"seq": 0}).get_json()
    assert back["last_read_seq"] == 1


def test_public_rooms_are_listed_by_substring_and_joinable(world):
    rooms = world.api.get("/rooms?q=OBB").get_json()["rooms"]
    assert [(r["id"], r["name"], r["member_count"]) for r in rooms] == [(world.room, "Lobby", 1)]
    assert world.api.get("/rooms?q=zzz").get_json()["rooms"] == []
    # The private group is never listed.
    assert world.group not in [r["id"] for r in world.api.get("/rooms").get_json()["rooms"]]
    joined = world.api.post(f"/conversations/{world.room}/join")
    assert joined.status_code == 200
    assert world.alice.id in [m["id"] for m in joined.get_json()["conversation"]["members"]]


def test_joining_a_private_group_is_not_found(world):
    assert_error(world.carol_api.post(f"/conversations/{world.group}/join"), 404, "not_found")


def test_owner_adds_and_removes_members_and_anyone_may_leave(world):
    added = world.api.post(f"/conversations/{world.group}/members", json={"user_id": world.carol.id})
    assert added.status_code == 200
    assert world.carol.id in [m["id"] for m in added.get_json()["conversation"]["members"]]
    assert_error(world.bob_api.delete(f"/conversations/{world.group}/members/{world.carol.id}"), 403, "forbidden")
    assert world.api.delete(f"/conversations/{world.group}/members/{world.carol.id}").status_code == 204
    assert world.bob_api.delete(f"/conversations/{world.group}/members/{world.bob.id}").status_code == 204
    assert_error(world.bob_api.get(f"/conversations/{world.group}"), 404, "not_found")


# ---------------------------------------------------------------- users


@pytest.mark.parametrize(
    "query,expected",
    [("al", ["alice"]), ("AL", ["alice"]), ("b", ["bob"]), ("lice", []), ("", ["alice", "bob", "carol"])],
)
def test_users_are_found_by_prefix_case_insensitively(world, query, expected):
    response = world.api.get(f"/users?q={query}")
    assert response.status_code == 200
    assert [u["username"] for u in response.get_json()["users"]] == expected


def test_users_limit(world):
    assert len(world.api.get("/users?limit=2").get_json()["users"]) == 2
    assert len(world.api.get("/users?limit=5000").get_json()["users"]) == 3


# ---------------------------------------------------------------- health


def test_healthz_answers_without_auth_in_the_contract_shape(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["db"] == "ok"
    assert "message_queue" in body  # "disabled" in the embedded mode (no Redis)
    assert body["message_queue"] in ("ok", "disabled")
