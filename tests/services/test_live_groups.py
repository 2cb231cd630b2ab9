"""Group rooms: roles, members, leaving, renaming, announcement rooms, public rooms, the live list."""

from __future__ import annotations

import itertools
import time

import pytest

from chatapp.extensions import db
from chatapp.models import Membership
from chatapp.services import conversations, messaging, presence
from chatapp.services.errors import ChatError
from tests.services.live_fixtures import published  # noqa: F401

_ids = itertools.count(1)


def send(user, cid: int, body: str = "hi") -> dict:
    return messaging.send_message(user, cid, body, f"g{next(_ids)}")[0]


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(ChatError) as info:
        fn(*args, **kw)
    return info.value.code


@pytest.fixture
def people(make_user):
    return [make_user(name)[0] for name in ("owner", "admin", "member", "member2", "outsider")]


@pytest.fixture
def group(people):
    owner, admin, member, member2, _ = people
    cid = conversations.create_group(owner, "team", [admin.id, member.id, member2.id])["id"]
    conversations.set_role(owner, cid, admin.id, "admin")
    return cid


def roles(user, cid: int) -> dict[str, str]:
    return conversations.get_conversation(user, cid)["roles"]


def test_create_makes_the_caller_owner_and_tells_every_member(people, published):  # noqa: F811
    owner, admin, member, _, outsider = people
    conv = conversations.create_group(owner, " Team ", [admin.id, member.id, owner.id])
    assert conv["name"] == "Team" and conv["visibility"] == "private" and conv["posting"] == "all"
    assert conv["roles"] == {str(owner.id): "owner", str(admin.id): "member", str(member.id): "member"}
    new = published.named("conversation:new")
    assert sorted(u for e in new for u in e.users) == sorted([owner.id, admin.id, member.id])  # creator included
    assert all(e.payload["conversation"]["id"] == conv["id"] for e in new)
    assert published.to(outsider.id) == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": ""}, "validation_error"),
        ({"name": "x" * 101}, "validation_error"),
        ({"name": "ok", "member_ids": "1,2"}, "validation_error"),
        ({"name": "ok", "member_ids": [0]}, "validation_error"),
        ({"name": "ok", "member_ids": [99999]}, "not_found"),
        ({"name": "ok", "visibility": "secret"}, "validation_error"),
        ({"name": "ok", "posting": "nobody"}, "validation_error"),
    ],
)
def test_create_validates_its_input(people, fields, code):
    args = {"name": fields.get("name"), "member_ids_value": fields.get("member_ids", [])}
    args.update({k: v for k, v in fields.items() if k in ("visibility", "posting")})
    assert code_of(conversations.create_group, people[0], **args) == code


def test_owner_and_admins_add_members_plain_members_can_not(people, group, published):  # noqa: F811
    owner, admin, member, member2, outsider = people
    for _ in range(3):
        send(owner, group)
    published.clear()
    assert code_of(conversations.add_member, member, group, outsider.id) == "forbidden"
    assert code_of(conversations.add_member, outsider, group, outsider.id) == "not_found"
    assert published.events == []
    conv = conversations.add_member(admin, group, outsider.id)
    assert str(outsider.id) in conv["roles"]
    mine = conversations.get_conversation(outsider, group)
    assert (mine["last_read_seq"], mine["unread_count"]) == (3, 0)  # old history is not unread
    joined = published.named("member:joined")
    assert sorted(joined[0].users) == sorted([owner.id, admin.id, member.id, member2.id, outsider.id])
    assert joined[0].payload["user"]["id"] == outsider.id and "online" in joined[0].payload["user"]
    assert [e.name for e in published.events if outsider.id in e.users] == ["member:joined", "conversation:new"]
    assert "conversation:updated" in published.names_to(member.id)
    # Adding again is a no-op.
    published.clear()
    conversations.add_member(owner, group, outsider.id)
    assert published.events == []


def test_removal_rules_and_the_removed_member_hears_member_left(people, group, published):  # noqa: F811
    owner, admin, member, member2, _ = people
    assert code_of(conversations.remove_member, member, group, member2.id) == "forbidden"
    assert code_of(conversations.remove_member, admin, group, owner.id) == "forbidden"
    conversations.set_role(owner, group, member2.id, "admin")
    assert code_of(conversations.remove_member, admin, group, member2.id) == "forbidden"  # admins can't remove admins
    published.clear()
    conversations.remove_member(admin, group, member.id)
    [left] = published.named("member:left")
    assert member.id in left.users and left.payload == {
        "conversation_id": group, "user": presence.user_dict(member),
        "version": conversations.get_conversation(owner, group)["version"],
    }
    assert member.id not in [u for e in published.named("conversation:updated") for u in e.users]
    assert code_of(conversations.get_conversation, member, group) == "not_found"
    # Gone means gone: no later event reaches the removed member.
    published.clear()
    send(owner, group)
    assert published.to(member.id) == []
    conversations.remove_member(owner, group, member2.id)  # the owner removes an admin
    assert roles(owner, group) == {str(owner.id): "owner", str(admin.id): "admin"}


def test_leaving_hands_ownership_to_the_longest_serving_admin_else_member(people, group):
    owner, admin, member, member2, _ = people
    conversations.remove_member(owner, group, owner.id)
    assert roles(admin, group) == {str(admin.id): "owner", str(member.id): "member", str(member2.id): "member"}
    conversations.remove_member(admin, group, admin.id)
    # No admin left: the earliest member (ties broken by id) becomes owner.
    assert roles(member, group) == {str(member.id): "owner", str(member2.id): "member"}
    conversations.remove_member(member2, group, member2.id)  # a plain member leaves
    conversations.remove_member(member, group, member.id)  # the last one leaves
    assert db.session.scalar(db.select(db.func.count()).select_from(Membership).where(
        Membership.conversation_id == group)) == 0


def test_leaving_with_unread_messages_updates_the_leavers_badge(people, group, published):  # noqa: F811
    owner, _, member, _, _ = people
    send(owner, group)
    send(owner, group)
    published.clear()
    conversations.remove_member(member, group, member.id)
    assert published.to(member.id, "unread") == [
        {"conversation_id": group, "unread_count": 0, "total_unread": 0, "unread_mentions": 0}
    ]


def test_set_role_is_the_owners_and_making_an_owner_hands_over(people, group):
    owner, admin, member, _, _ = people
    assert code_of(conversations.set_role, admin, group, member.id, "admin") == "forbidden"
    assert code_of(conversations.set_role, owner, group, member.id, "king") == "validation_error"
    assert code_of(conversations.set_role, owner, group, owner.id, "member") == "validation_error"
    conversations.set_role(owner, group, member.id, "owner")
    current = roles(owner, group)
    assert (current[str(member.id)], current[str(owner.id)]) == ("owner", "admin")


def test_rename_is_for_managers_and_tells_every_member(people, group, published):  # noqa: F811
    owner, admin, member, member2, outsider = people
    assert code_of(conversations.update_group, member, group, "mine", conversations.MISSING,
                   conversations.MISSING) == "forbidden"
    assert code_of(conversations.update_group, admin, group, "  ", conversations.MISSING,
                   conversations.MISSING) == "validation_error"
    published.clear()
    conv = conversations.update_group(admin, group, "Renamed", conversations.MISSING, conversations.MISSING)
    assert conv["name"] == "Renamed"
    updated = published.named("conversation:updated")
    assert sorted(u for e in updated for u in e.users) == sorted([owner.id, admin.id, member.id, member2.id])
    assert all(e.payload["conversation"]["name"] == "Renamed" for e in updated)


def test_direct_conversations_have_no_members_to_manage(people):
    owner, admin, *_ = people
    direct = conversations.open_direct(owner, admin.id)[0]["id"]
    assert code_of(conversations.add_member, owner, direct, people[4].id) == "validation_error"
    assert code_of(conversations.remove_member, owner, direct, owner.id) == "validation_error"


def test_announcement_rooms_let_only_owner_and_admins_post(people, published):  # noqa: F811
    owner, admin, member, _, _ = people
    cid = conversations.create_group(owner, "news", [admin.id, member.id], posting="admins")["id"]
    conversations.set_role(owner, cid, admin.id, "admin")
    published.clear()
    assert code_of(messaging.send_message, member, cid, "me too", "m1") == "forbidden"
    assert published.named("message:new") == []
    assert [send(owner, cid)["seq"], send(admin, cid)["seq"]] == [1, 2]
    # Members still read, react and get their badges.
    assert conversations.get_conversation(member, cid)["unread_count"] == 2


def test_public_rooms_are_listed_readable_and_joinable(people, published):  # noqa: F811
    owner, admin, member, _, outsider = people
    room = conversations.create_group(owner, "Python Lovers", [admin.id], visibility="public")["id"]
    conversations.create_group(owner, "python secret", [admin.id])  # private: never listed
    send(owner, room)
    send(admin, room)
    presence.connect(admin, "sid-1")
    rooms = conversations.list_rooms(outsider, "PYTHON")
    assert rooms == [{"id": room, "name": "Python Lovers", "member_count": 2, "online_count": 1, "is_member": False}]
    assert conversations.list_rooms(outsider, "lovers")[0]["id"] == room  # a substring
    assert conversations.list_rooms(outsider, "nomatch") == []
    # A visitor reads, but does not post until it joins.
    assert conversations.get_conversation(outsider, room)["is_member"] is False
    assert len(messaging.history(outsider, room, None, None, None)[0]) == 2
    assert code_of(messaging.send_message, outsider, room, "hello", "x1") == "forbidden"
    published.clear()
    joined = conversations.join(outsider, room)
    assert (joined["last_read_seq"], joined["unread_count"], joined["is_member"]) == (2, 0, True)
    assert [e.name for e in published.events if outsider.id in e.users] == ["member:joined", "conversation:new"]
    assert sorted(published.named("member:joined")[0].users) == sorted([owner.id, admin.id, outsider.id])
    published.clear()
    conversations.join(outsider, room)  # joining twice changes nothing
    assert published.events == []
    assert conversations.list_rooms(outsider, None)[0]["member_count"] == 3


def test_private_groups_can_not_be_joined_or_seen(people, group):
    outsider = people[4]
    assert code_of(conversations.join, outsider, group) == "not_found"
    assert code_of(conversations.get_conversation, outsider, group) == "not_found"
    assert code_of(messaging.history, outsider, group, None, None, None) == "not_found"


def test_members_carry_online_so_a_rooms_online_members_are_visible(people, group):
    owner, admin, member, _, _ = people
    presence.connect(member, "sid-m")
    members = {m["id"]: m["online"] for m in conversations.get_conversation(owner, group)["members"]}
    assert members[member.id] is True and members[admin.id] is False


def test_the_list_is_ordered_by_activity_with_last_message_and_counts(people, group):
    owner, admin, member, _, _ = people
    direct = conversations.open_direct(owner, member.id)[0]["id"]
    send(owner, group, "first")
    time.sleep(0.002)  # updated_at has millisecond resolution
    send(owner, direct, "second")
    listed, _ = conversations.list_conversations(member, None, None)
    assert [c["id"] for c in listed] == [direct, group]
    time.sleep(0.002)
    last = send(admin, group, "third")
    listed, _ = conversations.list_conversations(member, None, None)
    assert [c["id"] for c in listed] == [group, direct]
    assert listed[0]["last_message"] == last and listed[0]["unread_count"] == 2
