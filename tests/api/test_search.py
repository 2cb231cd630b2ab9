"""GET /api/v1/search/messages (PROTOCOL.md v2 "Search"): the REST face of the
search service (tests/services/test_search.py has the matching rules). Answers
`{results: [{message, highlights}], next_cursor}`; every refusal is the error
envelope with its status, never a 500. On both databases (CHAT_TEST_DB=postgres)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from chatapp.services import conversations, messaging
from tests.api.conftest import Caller, assert_error


def search(caller: Caller, q: str | None = None, **params):
    query = {} if q is None else {"q": q}
    query.update({k: v for k, v in params.items() if v is not None})
    return caller.get("/search/messages?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items()))


def test_results_are_full_messages_with_highlights(world):
    messaging.send_message(world.bob, world.dm, "Café tomorrow?", "c-1")
    response = search(world.api, "cafe")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"results", "next_cursor"} and body["next_cursor"] is None
    (result,) = body["results"]
    assert set(result) == {"message", "highlights"}
    assert result["highlights"] == [[0, 4]]
    history = world.api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert result["message"] == history[-1]  # the same Message object as everywhere else


def test_authentication_is_required(world, app):
    assert_error(search(Caller(app, None), "hello"), 401, "unauthorized")
    assert_error(search(Caller(app, "not-a-token"), "hello"), 401, "unauthorized")


def test_the_session_cookie_works_too(world, app):
    browser = Caller(app, None, use_cookies=True)
    login = browser.post("/auth/login", json={"username": "bob", "password": "correct horse"})
    assert login.status_code == 200
    response = search(browser, "hello")
    assert response.status_code == 200
    assert [r["message"]["body"] for r in response.get_json()["results"]] == ["hello bob"]


def test_paging_with_the_cursor(world):
    for n in range(7):
        messaging.send_message(world.alice, world.group, f"standup notes {n}", f"s-{n}")
    seen, cursor = [], None
    while True:
        response = search(world.bob_api, "standup", limit=3, cursor=cursor)
        assert response.status_code == 200
        page = response.get_json()
        seen += [r["message"]["body"] for r in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"standup notes {n}" for n in reversed(range(7))]


def test_conversation_id_filters_and_hides_what_the_caller_cannot_read(world):
    messaging.send_message(world.alice, world.group, "hello team", "t-1")
    only_dm = search(world.api, "hello", conversation_id=world.dm).get_json()["results"]
    assert [r["message"]["body"] for r in only_dm] == ["hello bob"]
    assert len(search(world.api, "hello").get_json()["results"]) == 2
    assert_error(search(world.carol_api, "hello", conversation_id=world.dm), 404, "not_found")
    assert_error(search(world.api, "hello", conversation_id=987654), 404, "not_found")
    assert search(world.carol_api, "hello").get_json() == {"results": [], "next_cursor": None}


def test_a_public_room_can_be_searched_by_a_reader(world):
    messaging.send_message(world.carol, world.room, "lobby rules", "r-1")
    found = search(world.api, "rules", conversation_id=world.room).get_json()["results"]
    assert [r["message"]["body"] for r in found] == ["lobby rules"]
    assert search(world.api, "rules").get_json()["results"] == []  # not a member: not in "everything"


def test_after_leaving_nothing_of_the_group_is_found(world):
    messaging.send_message(world.alice, world.group, "roadmap draft", "d-1")
    assert len(search(world.bob_api, "roadmap").get_json()["results"]) == 1
    assert world.bob_api.delete(f"/conversations/{world.group}/members/{world.bob.id}").status_code == 204
    assert search(world.bob_api, "roadmap").get_json()["results"] == []
    assert_error(search(world.bob_api, "roadmap", conversation_id=world.group), 404, "not_found")


def test_deleted_and_edited_messages_over_rest(world):
    message, _ = messaging.send_message(world.alice, world.dm, "wrong number", "e-1")
    assert world.api.patch(f"/messages/{message['id']}", json={"body": "right number"}).status_code == 200
    assert search(world.bob_api, "wrong").get_json()["results"] == []
    assert len(search(world.bob_api, "right").get_json()["results"]) == 1
    assert world.api.delete(f"/messages/{message['id']}").status_code == 204
    assert search(world.bob_api, "right number").get_json()["results"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "x" * 201}, "q"),
    ({"q": "a", "limit": "0"}, "limit"),
    ({"q": "a", "limit": "51"}, "limit"),
    ({"q": "a", "limit": "-3"}, "limit"),
    ({"q": "a", "limit": "ten"}, "limit"),
    ({"q": "a", "limit": "1e3"}, "limit"),
    ({"q": "a", "conversation_id": "abc"}, "conversation_id"),
    ({"q": "a", "conversation_id": "0"}, "conversation_id"),
    ({"q": "a", "conversation_id": "99999999999999999999999"}, "conversation_id"),
    ({"q": "a", "cursor": "garbage"}, "cursor"),
    ({"q": "a", "cursor": "%%%"}, "cursor"),
])
def test_bad_parameters_are_validation_errors(world, params, field):
    error = assert_error(search(world.api, **params), 400, "validation_error")
    assert field in error.get("fields", {}), error


def test_limit_bounds_are_accepted(world):
    for limit in ("1", "50"):
        assert search(world.api, "hello", limit=limit).status_code == 200
    assert search(world.api, "x" * 200).status_code == 200


@pytest.mark.parametrize("q", [
    'AND', '"', '"hello', "'", '*', 'hel*', '-hello', ':', 'body:hello', 'NEAR(hello bob)', 'NEAR(', '(', ')',
    '\\', '\\"', "hello' OR '1'='1", 'a & b | !c', "'':*", '<->', '%', '_', '\u0301', 'ʹ', '½', '😀', '\ufffd',
    'hello\tbob', 'hello\nbob',
])
def test_hostile_q_is_answered_never_a_500(world, q):
    response = search(world.api, q)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert set(response.get_json()) == {"results", "next_cursor"}


def test_nul_in_q_is_a_validation_error(world):
    assert_error(world.api.get("/search/messages?q=a%00b"), 400, "validation_error")


def test_search_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    operation = paths["/api/v1/search/messages"]["get"]
    assert operation["operationId"] == "searchMessages"
    assert {p["name"] for p in operation["parameters"]} == {"q", "conversation_id", "limit", "cursor"}


def test_an_empty_membership_answers_empty(app, make_user):
    user, token = make_user("loner")
    conversations.create_group(user, "Solo", [])
    response = search(Caller(app, token), "anything")
    assert response.get_json() == {"results": [], "next_cursor": None}
