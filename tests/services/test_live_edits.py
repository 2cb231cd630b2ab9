"""Edit, soft delete and reactions."""

from __future__ import annotations

import pytest

from chatapp.services import conversations, messaging
from chatapp.services.errors import ChatError
from tests.services.live_fixtures import published  # noqa: F401


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(ChatError) as info:
        fn(*args, **kw)
    return info.value.code


@pytest.fixture
def people(make_user):
    return [make_user(name)[0] for name in ("owner", "admin", "member", "outsider")]


@pytest.fixture
def group(people):
    owner, admin, member, _ = people
    cid = conversations.create_group(owner, "team", [admin.id, member.id])["id"]
    conversations.set_role(owner, cid, admin.id, "admin")
    return cid


def post(user, cid, body="hello", key=None):
    return messaging.send_message(user, cid, body, key or f"{user.id}-{body}")[0]


def test_the_sender_edits_and_every_member_sees_it(people, group, published):  # noqa: F811
    owner, admin, member, outsider = people
    message = post(member, group)
    published.clear()
    edited = messaging.edit_message(member, message["id"], "  hello, edited ")
    assert edited["body"] == "hello, edited" and edited["edited_at"] is not None
    assert (edited["id"], edited["seq"]) == (message["id"], message["seq"])
    [event] = published.named("message:updated")
    assert sorted(event.users) == sorted([owner.id, admin.id, member.id]) and event.payload == {"message": edited}
    published.clear()
    messaging.edit_message(member, message["id"], "hello, edited")  # unchanged: no event
    assert published.events == []


def test_only_the_sender_edits_and_bad_edits_are_refused(people, group, published):  # noqa: F811
    owner, _, member, outsider = people
    message = post(member, group)
    published.clear()
    assert code_of(messaging.edit_message, owner, message["id"], "owner's words") == "forbidden"
    assert code_of(messaging.edit_message, outsider, message["id"], "x") == "not_found"
    assert code_of(messaging.edit_message, member, message["id"], "   ") == "validation_error"
    assert code_of(messaging.edit_message, member, message["id"], 5) == "validation_error"
    assert code_of(messaging.edit_message, member, "1", "x") == "validation_error"
    assert code_of(messaging.edit_message, member, 99999, "x") == "not_found"
    messaging.delete_message(member, message["id"])
    assert code_of(messaging.edit_message, member, message["id"], "back") == "conflict"
    assert published.named("message:updated") == []


def test_soft_delete_keeps_id_and_seq(people, group, published):  # noqa: F811
    owner, admin, member, _ = people
    first, second = post(member, group, "one"), post(member, group, "two")
    messaging.react(owner, first["id"], "👍", add=True)
    published.clear()
    messaging.delete_message(member, first["id"])
    [event] = published.named("message:deleted")
    version = conversations.get_conversation(owner, group)["version"]
    assert event.payload == {
        "conversation_id": group, "message_id": first["id"], "seq": first["seq"], "version": version,
    }
    assert sorted(event.users) == sorted([owner.id, admin.id, member.id])
    history, _ = messaging.history(owner, group, None, None, None)
    assert [(m["id"], m["seq"], m["deleted"], m["body"], m["reactions"]) for m in history] == [
        (first["id"], 1, True, "", {}), (second["id"], 2, False, "two", {}),
    ]
    published.clear()
    messaging.delete_message(member, first["id"])  # twice: a no-op
    assert published.events == []


def test_group_owner_and_admins_delete_others_messages_members_do_not(people, group):
    owner, admin, member, outsider = people
    a, b, c = post(owner, group, "a"), post(member, group, "b"), post(admin, group, "c")
    assert code_of(messaging.delete_message, member, a["id"]) == "forbidden"
    assert code_of(messaging.delete_message, outsider, a["id"]) == "not_found"
    messaging.delete_message(admin, b["id"])
    messaging.delete_message(owner, c["id"])
    assert [m["deleted"] for m in messaging.history(member, group, None, None, None)[0]] == [False, True, True]


def test_in_a_direct_conversation_only_the_sender_deletes(people):
    owner, _, member, _ = people
    direct = conversations.open_direct(owner, member.id)[0]["id"]
    message = post(owner, direct)
    assert code_of(messaging.delete_message, member, message["id"]) == "forbidden"


def test_reactions_add_and_remove_and_a_key_disappears_with_its_last_user(people, group, published):  # noqa: F811
    owner, admin, member, _ = people
    message = post(member, group)
    published.clear()
    assert messaging.react(owner, message["id"], "👍", add=True)["reactions"] == {"👍": [owner.id]}
    assert messaging.react(admin, message["id"], " 👍 ", add=True)["reactions"] == {"👍": [owner.id, admin.id]}
    assert messaging.react(admin, message["id"], "🎉", add=True)["reactions"] == {"👍": [owner.id, admin.id],
                                                                                "🎉": [admin.id]}
    messaging.react(admin, message["id"], "🎉", add=True)  # the same again: no change, no event
    assert len(published.named("message:updated")) == 3
    assert messaging.react(admin, message["id"], "🎉", add=False)["reactions"] == {"👍": [owner.id, admin.id]}
    assert messaging.react(owner, message["id"], "👍", add=False)["reactions"] == {"👍": [admin.id]}
    final = messaging.react(admin, message["id"], "👍", add=False)
    assert final["reactions"] == {}
    updates = published.named("message:updated")
    assert len(updates) == 6 and updates[-1].payload == {"message": final}
    assert sorted(updates[-1].users) == sorted([owner.id, admin.id, member.id])
    messaging.react(admin, message["id"], "👍", add=False)  # removing what is not there: no event
    assert len(published.named("message:updated")) == 6


@pytest.mark.parametrize("emoji", ["", "   ", "two words", "x" * 17, 7, None])
def test_a_bad_emoji_is_a_validation_error(people, group, emoji):
    message = post(people[2], group)
    assert code_of(messaging.react, people[0], message["id"], emoji, add=True) == "validation_error"


def test_no_reactions_on_deleted_messages_or_from_non_members(people, group, published):  # noqa: F811
    owner, _, member, outsider = people
    room = conversations.create_group(owner, "lobby", [], visibility="public")["id"]
    in_room = post(owner, room)
    message = post(member, group)
    messaging.delete_message(member, message["id"])
    published.clear()
    assert code_of(messaging.react, owner, message["id"], "👍", add=True) == "conflict"
    assert code_of(messaging.react, outsider, message["id"], "👍", add=True) == "not_found"
    assert code_of(messaging.react, outsider, in_room["id"], "👍", add=True) == "forbidden"
    assert published.events == []


def test_someone_who_left_a_public_room_can_not_edit_or_delete_there(people):
    owner, _, member, _ = people
    room = conversations.create_group(owner, "lobby", [], visibility="public")["id"]
    conversations.join(member, room)
    mine = post(member, room)
    conversations.remove_member(member, room, member.id)
    assert code_of(messaging.edit_message, member, mine["id"], "changed") == "forbidden"
    assert code_of(messaging.delete_message, member, mine["id"]) == "forbidden"
    assert messaging.history(owner, room, None, None, None)[0][0]["body"] == "hello"
