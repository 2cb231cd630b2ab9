"""Every action, checked by the oracle (tests/support/oracle.py) on the database under test.

For each action the server has, every user's device is checked twice: a device
that was connected applies the events it received to the state it held, and
a device that was offline catches up with ``sync`` and ``versions`` (paged with
a small limit). Both must end exactly where a fresh fetch (``GET
/conversations`` and history) is. A new action gets a row in ``ACTIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from chatapp.extensions import db
from chatapp.models import User
from chatapp.services import blocks, closing, conversations, messaging, notification_settings, profile, receipts
from chatapp.services import sync as catch_up_service
from tests.services.live_fixtures import Recorder, published  # noqa: F401
from tests.support.oracle import DeviceState, assert_equal_states, catch_up, deliver, fresh_state

SYNC_LIMIT = 2  # small, so that paging (and cuts inside changes) is exercised


@dataclass
class World:
    alice: User
    bob: User
    carol: User
    dave: User
    dm: int
    group: int
    room: int
    dm_messages: list[dict]
    group_messages: list[dict]

    @property
    def people(self) -> list[User]:
        return [self.alice, self.bob, self.carol, self.dave]


@pytest.fixture
def world(app, make_user) -> World:
    """alice and bob in a DM; a group (alice owner, bob admin, carol); a public room of bob's; dave outside."""
    app.config.update(
        RATE_MESSAGES_BURST=5000, RATE_EDIT_BURST=5000, RATE_MEMBERSHIP_BURST=5000,
        ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1,
    )
    alice, bob, carol, dave = (make_user(name)[0] for name in ("alice", "bob", "carol", "dave"))
    dm = conversations.open_direct(alice, bob.id)[0]["id"]
    group = conversations.create_group(alice, "Team", [bob.id, carol.id])["id"]
    conversations.set_role(alice, group, bob.id, "admin")
    room = conversations.create_group(bob, "Lobby", [alice.id], visibility="public")["id"]
    dm_messages = [send(alice, dm, "hi bob"), send(bob, dm, "hi alice"), send(alice, dm, "how are you")]
    group_messages = [send(carol, group, "hello team"), send(bob, group, "morning"), send(alice, group, "standup?")]
    messaging.react(bob, group_messages[0]["id"], "👍", add=True)
    send(bob, room, "welcome")
    receipts.mark_read(bob, dm, 1)
    return World(alice, bob, carol, dave, dm, group, room, dm_messages, group_messages)


def send(user: User, cid: int, body: str) -> dict:
    return messaging.send_message(user, cid, body, f"c-{user.id}-{body}")[0]


def fresh(user: User) -> DeviceState:
    """What a device that starts now fetches, through the services."""
    db.session.expire_all()
    return fresh_state(
        user.id,
        lambda cursor: conversations.list_conversations(user, 100, cursor),
        lambda cid, after: messaging.history(user, cid, None, after, 100),
    )


def verify_action(world: World, recorder: Recorder, action: Callable[[World], object]) -> None:
    """Run ``action``; every user's live and offline device must end where a fresh fetch is."""
    live = {user.id: fresh(user) for user in world.people}
    offline = {user.id: fresh(user) for user in world.people}
    recorder.clear()
    action(world)
    actor = PERSONAL.get(action)
    for user in world.people:
        deliver(live[user.id], [(e.name, e.payload) for e in recorder.events if user.id in e.users])
        now = fresh(user)
        if actor is not None and actor(world) is not user:
            _adopt_private_version(live[user.id], now)
        assert_equal_states(live[user.id], now, f"{user.username}'s connected device")

        def call(cursors, versions, limit, user=user):
            return catch_up_service.sync(user, cursors, limit, versions)

        catch_up(offline[user.id], call, SYNC_LIMIT)
        assert_equal_states(offline[user.id], now, f"{user.username}'s offline device after sync")


def _adopt_private_version(device: DeviceState, now: DeviceState) -> None:
    """A member's own notification settings take the conversation's next version
    (so that member's other devices catch up with sync) but are told to nobody
    else: the other members' connected devices lag by that one number, with
    nothing else different, until the next change they are told about."""
    for cid, conversation in device.conversations.items():
        fresh_version = now.conversations[cid]["version"] if cid in now.conversations else None
        if fresh_version is not None and conversation["version"] == fresh_version - 1:
            conversation["version"] = fresh_version


def _mute(world: World) -> None:
    notification_settings.update_settings(world.bob, world.group, "mentions", "2099-01-01T00:00:00Z")


def _mention_then_edit_it_away(world: World) -> None:
    message = send(world.alice, world.group, "@bob and @carol: standup")
    messaging.edit_message(world.alice, message["id"], "@carol: standup")


def _quote_then_edit(world: World) -> None:
    messaging.send_message(world.carol, world.group, "agreed", "q-1", reply_to=world.group_messages[2]["id"])
    messaging.edit_message(world.alice, world.group_messages[2]["id"], "standup at 9:30?")


def _quote_then_delete(world: World) -> None:
    messaging.send_message(world.carol, world.group, "what was that?", "q-2", reply_to=world.group_messages[1]["id"])
    messaging.delete_message(world.bob, world.group_messages[1]["id"])


def _close_bob(world: World) -> None:
    """bob leaves the group (admin) and his room (owner: alice takes it over); the DM stays, showing Deleted user."""
    closing.close_account(world.bob, "correct horse")


def _hand_over(world: World) -> None:
    conversations.set_role(world.alice, world.group, world.carol.id, "owner")


ACTIONS: dict[str, Callable[[World], object]] = {
    "send in a direct conversation": lambda w: send(w.bob, w.dm, "fine"),
    "send in a group": lambda w: send(w.carol, w.group, "yes"),
    "send with unread before it": lambda w: send(w.bob, w.group, "I had unread"),
    "edit": lambda w: messaging.edit_message(w.alice, w.dm_messages[0]["id"], "hi bob (edited)"),
    "edit the last message": lambda w: messaging.edit_message(w.alice, w.group_messages[2]["id"], "standup at 10"),
    "delete own": lambda w: messaging.delete_message(w.alice, w.dm_messages[0]["id"]),
    "delete the last message": lambda w: messaging.delete_message(w.alice, w.dm_messages[2]["id"]),
    "delete by an admin": lambda w: messaging.delete_message(w.bob, w.group_messages[0]["id"]),
    "react": lambda w: messaging.react(w.carol, w.group_messages[1]["id"], "🎉", add=True),
    "unreact": lambda w: messaging.react(w.bob, w.group_messages[0]["id"], "👍", add=False),
    "read": lambda w: receipts.mark_read(w.carol, w.group, 3),
    "delivered": lambda w: receipts.mark_delivered(w.bob, w.group, 3),
    "create a group": lambda w: conversations.create_group(w.dave, "New", [w.alice.id, w.carol.id]),
    "open a direct conversation": lambda w: conversations.open_direct(w.dave, w.carol.id),
    "rename": lambda w: conversations.update_group(w.bob, w.group, "Team 2", conversations.MISSING,
                                                   conversations.MISSING),
    "settings": lambda w: conversations.update_group(w.alice, w.group, conversations.MISSING, "public", "admins"),
    "add a member": lambda w: conversations.add_member(w.bob, w.group, w.dave.id),
    "remove a member": lambda w: conversations.remove_member(w.bob, w.group, w.carol.id),
    "leave": lambda w: conversations.remove_member(w.carol, w.group, w.carol.id),
    "the owner leaves": lambda w: conversations.remove_member(w.alice, w.group, w.alice.id),
    "leave a public room": lambda w: conversations.remove_member(w.alice, w.room, w.alice.id),
    "join a public room": lambda w: conversations.join(w.dave, w.room),
    "promote to admin": lambda w: conversations.set_role(w.alice, w.group, w.carol.id, "admin"),
    "demote": lambda w: conversations.set_role(w.alice, w.group, w.bob.id, "member"),
    "hand ownership over": _hand_over,
    "notification settings": _mute,
    "send with mentions": lambda w: send(w.carol, w.group, "@alice @bob look @dave"),
    "edit a mention away": _mention_then_edit_it_away,
    "reply": lambda w: messaging.send_message(w.bob, w.dm, "fine, thanks", "reply-1", reply_to=w.dm_messages[1]["id"]),
    "edit a quoted message": _quote_then_edit,
    "delete a quoted message": _quote_then_delete,
    "change a display name": lambda w: profile.update_display_name(w.alice, "Alice A."),
    "block a contact": lambda w: blocks.block(w.alice, w.bob.id),
    "close an account": _close_bob,
}
# Actions that change what one member alone sees (their own settings), by who acts.
PERSONAL: dict[Callable[[World], object], Callable[[World], User]] = {_mute: lambda w: w.bob}


@pytest.mark.parametrize("name", list(ACTIONS))
def test_every_device_ends_where_a_fresh_fetch_is(world, published, name):  # noqa: F811
    verify_action(world, published, ACTIONS[name])


def test_a_device_offline_across_every_kind_of_change_catches_up_exactly(world, published):  # noqa: F811
    """One long absence: every action above, in order, then one catch-up (paged)."""
    before = {user.id: fresh(user) for user in world.people}
    # They end what others use:
    later = ("delete by an admin", "the owner leaves", "remove a member", "leave", "close an account")
    for name in ACTIONS:
        if name not in later:
            ACTIONS[name](world)
    messaging.delete_message(world.carol, world.group_messages[0]["id"])
    conversations.remove_member(world.carol, world.group, world.bob.id)  # carol owns it by now
    _close_bob(world)
    for user in world.people:

        def call(cursors, versions, limit, user=user):
            return catch_up_service.sync(user, cursors, limit, versions)

        rounds = catch_up(before[user.id], call, SYNC_LIMIT)
        if user is world.alice:
            assert rounds > 3, "the small limit pages through her many changes"
        assert_equal_states(before[user.id], fresh(user), f"{user.username} after a long absence")


def test_a_deleted_message_comes_back_as_a_change_with_an_empty_body(world):
    """The issue's reproduction: the device holds seq 1-2; message 1 is edited, 2 deleted, a reaction,
    a rename; ``sync {cursors: {g: 2}}`` used to answer ``messages: []``."""
    bob, group = world.bob, world.group
    first, second = world.group_messages[0], world.group_messages[1]
    held = fresh(world.carol).conversations[group]["version"]
    messaging.edit_message(world.carol, first["id"], "hello team!")
    messaging.delete_message(bob, second["id"])
    messaging.react(world.alice, first["id"], "❤️", add=True)
    conversations.update_group(world.alice, group, "Renamed", conversations.MISSING, conversations.MISSING)
    answer = catch_up_service.sync(world.carol, {str(group): 2}, None, {str(group): held})
    changed = {m["seq"]: m for m in answer["changes"]}
    assert changed[1]["body"] == "hello team!" and changed[1]["reactions"]["❤️"] == [world.alice.id]
    assert changed[2]["deleted"] is True and changed[2]["body"] == "" and changed[2]["reactions"] == {}
    assert [m["seq"] for m in answer["messages"]] == [3]
    [conversation] = answer["conversations"]
    assert conversation["name"] == "Renamed" and conversation["version"] > held
    assert answer["versions"][str(group)] == conversation["version"]
    assert answer["cursors"][str(group)] == 3 and answer["removed"] == []


def test_removed_lists_what_the_caller_left_or_cannot_see_but_not_a_room_it_only_reads(world):
    dave, room, group, dm = world.dave, world.room, world.group, world.dm
    # dave reads the public room as a visitor: never "removed".
    answer = catch_up_service.sync(dave, {str(room): 0, str(group): 0, str(dm): 0, "999999": 0}, None, {})
    assert answer["removed"] == sorted([group, dm, 999999])
    assert [m["body"] for m in answer["messages"]] == ["welcome"]
    # alice leaves the room: for her it is removed, although she could still read it.
    conversations.remove_member(world.alice, room, world.alice.id)
    answer = catch_up_service.sync(world.alice, {str(room): 1}, None, {str(room): 0})
    assert answer["removed"] == [room] and str(room) not in answer["cursors"]
    # Joining again ends that.
    conversations.join(world.alice, room)
    answer = catch_up_service.sync(world.alice, {str(room): 1}, None, {str(room): 0})
    assert answer["removed"] == []


def test_new_conversations_are_listed_with_where_to_continue(world):
    answer = catch_up_service.sync(world.carol, {}, None, {})
    assert sorted(c["id"] for c in answer["conversations"]) == [world.group]
    assert answer["cursors"] == {str(world.group): 3} and answer["messages"] == []


def test_an_up_to_date_device_gets_an_empty_answer(world):
    state = fresh(world.alice)
    answer = catch_up_service.sync(world.alice, state.cursors(), None, state.versions())
    assert (answer["messages"], answer["changes"], answer["conversations"], answer["removed"]) == ([], [], [], [])
    assert answer["cursors"] == state.cursors() and answer["versions"] == state.versions()
    assert answer["has_more"] is False


def test_versions_rise_by_one_per_change_and_messages_carry_theirs(world):
    group, alice = world.group, world.alice
    version = conversations.get_conversation(alice, group)["version"]
    message = send(alice, group, "v")
    assert message["version"] == version + 1
    edited = messaging.edit_message(alice, message["id"], "v2")
    assert edited["version"] == version + 2
    receipts.mark_read(world.carol, group, message["seq"])
    assert conversations.get_conversation(alice, group)["version"] == version + 3
    # Nothing to change: no version.
    receipts.mark_read(world.carol, group, message["seq"])
    messaging.edit_message(alice, message["id"], "v2")
    assert conversations.get_conversation(alice, group)["version"] == version + 3


@pytest.mark.parametrize(
    "versions",
    [[], "1", {"x": 1}, {"1": -1}, {"1": "2"}, {"1": True}, {"1": None}, {str(n): 0 for n in range(1, 1002)}],
)
def test_malformed_versions_are_a_validation_error(world, versions):
    from chatapp.services.errors import ValidationError

    with pytest.raises(ValidationError):
        catch_up_service.sync(world.alice, {}, None, versions)
