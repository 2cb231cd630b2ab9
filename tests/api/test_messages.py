"""REST messages: history, send (idempotent by client_id), edit, delete, reactions.
Every REST write emits the same real-time events as its socket twin."""

from __future__ import annotations

import pytest

from .conftest import assert_error


@pytest.fixture
def published(app):
    events = []
    app.extensions["chat.publisher"] = events.append
    return events


def test_send_is_201_then_200_with_the_original_for_a_repeated_client_id(world, published):
    path = f"/conversations/{world.dm}/messages"
    first = world.bob_api.post(path, json={"body": "  hi alice  ", "client_id": "uuid-1"})
    assert first.status_code == 201
    message = first.get_json()["message"]
    assert (message["body"], message["seq"], message["sender_id"]) == ("hi alice", 2, world.bob.id)
    assert [e.name for e in published].count("message:new") == 1
    again = world.bob_api.post(path, json={"body": "hi alice (retry)", "client_id": "uuid-1"})
    assert again.status_code == 200
    assert again.get_json()["message"] == message
    assert [e.name for e in published].count("message:new") == 1
    assert len(world.api.get(path).get_json()["messages"]) == 2


def test_history_is_ascending_with_has_more(world):
    path = f"/conversations/{world.dm}/messages"
    for i in range(5):
        world.api.post(path, json={"body": f"m{i}", "client_id": f"h{i}"})
    latest = world.bob_api.get(path + "?limit=3").get_json()
    assert [m["seq"] for m in latest["messages"]] == [4, 5, 6] and latest["has_more"] is True
    older = world.bob_api.get(path + "?before=4&limit=3").get_json()
    assert [m["seq"] for m in older["messages"]] == [1, 2, 3] and older["has_more"] is False
    newer = world.bob_api.get(path + "?after=4").get_json()
    assert [m["seq"] for m in newer["messages"]] == [5, 6] and newer["has_more"] is False
    clamped = world.bob_api.get(path + "?limit=1000").get_json()
    assert len(clamped["messages"]) == 6


def test_edit_by_the_sender_only_and_it_emits_message_updated(world, published):
    path = f"/messages/{world.message}"
    assert_error(world.bob_api.patch(path, json={"body": "hijack"}), 403, "forbidden")
    response = world.api.patch(path, json={"body": "hello bob, edited"})
    assert response.status_code == 200
    message = response.get_json()["message"]
    assert message["body"] == "hello bob, edited" and message["edited_at"]
    assert [e.payload for e in published if e.name == "message:updated"] == [{"message": message}]


def test_delete_is_204_and_keeps_id_and_seq(world, published):
    assert_error(world.bob_api.delete(f"/messages/{world.message}"), 403, "forbidden")
    response = world.api.delete(f"/messages/{world.message}")
    assert response.status_code == 204 and response.get_data() == b""
    history = world.bob_api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert [(m["id"], m["seq"], m["deleted"], m["body"]) for m in history] == [(world.message, 1, True, "")]
    version = world.api.get(f"/conversations/{world.dm}").get_json()["conversation"]["version"]
    assert [e.payload for e in published if e.name == "message:deleted"] == [
        {"conversation_id": world.dm, "message_id": world.message, "seq": 1, "version": version}
    ]
    assert_error(world.api.patch(f"/messages/{world.message}", json={"body": "x"}), 409, "conflict")
    reaction = {"emoji": "\U0001f44d"}
    assert_error(world.bob_api.post(f"/messages/{world.message}/reactions", json=reaction), 409, "conflict")
    assert_error(world.bob_api.delete(f"/messages/{world.message}/reactions/%F0%9F%91%8D"), 409, "conflict")


def test_reactions_are_added_and_removed_by_emoji(world, published):
    thumbs = "\U0001f44d"
    added = world.bob_api.post(f"/messages/{world.message}/reactions", json={"emoji": thumbs})
    assert added.status_code == 200
    assert added.get_json()["message"]["reactions"] == {thumbs: [world.bob.id]}
    world.api.post(f"/messages/{world.message}/reactions", json={"emoji": thumbs})
    removed = world.bob_api.delete(f"/messages/{world.message}/reactions/%F0%9F%91%8D")
    assert removed.status_code == 200
    assert removed.get_json()["message"]["reactions"] == {thumbs: [world.alice.id]}
    gone = world.api.delete(f"/messages/{world.message}/reactions/{thumbs}").get_json()["message"]
    assert gone["reactions"] == {}
    assert len([e for e in published if e.name == "message:updated"]) == 4


def test_a_public_rooms_visitor_reads_but_cannot_post(world):
    room = f"/conversations/{world.room}/messages"
    world.carol_api.post(room, json={"body": "welcome", "client_id": "w"})
    assert [m["body"] for m in world.api.get(room).get_json()["messages"]] == ["welcome"]
    assert_error(world.api.post(room, json={"body": "me too", "client_id": "x"}), 403, "forbidden")


def test_sync_over_rest_answers_what_the_socket_sync_answers(world):
    """POST /sync (extension): the socket ``sync`` for clients without a socket."""
    before = world.bob_api.get(f"/conversations/{world.dm}").get_json()["conversation"]
    world.api.patch(f"/messages/{world.message}", json={"body": "edited while bob was away"})
    world.api.post(f"/conversations/{world.dm}/messages", json={"body": "and a new one", "client_id": "s1"})
    body = {"cursors": {str(world.dm): before["last_seq"]}, "versions": {str(world.dm): before["version"]}}
    answer = world.bob_api.post("/sync", json=body).get_json()
    assert [m["body"] for m in answer["changes"]] == ["edited while bob was away"]
    assert [m["body"] for m in answer["messages"]] == ["and a new one"]
    assert answer["removed"] == [] and answer["has_more"] is False
    dm = next(c for c in answer["conversations"] if c["id"] == world.dm)
    assert answer["versions"][str(world.dm)] == dm["version"] > before["version"]
    v1 = world.bob_api.post("/sync", json={"cursors": {str(world.dm): 0}}).get_json()
    assert set(v1) == {"messages", "has_more"}
    assert_error(world.bob_api.post("/sync", json={"cursors": {"x": 1}}), 400, "validation_error")
    assert_error(world.bob_api.post("/sync", json={"cursors": {}, "versions": []}), 400, "validation_error")
