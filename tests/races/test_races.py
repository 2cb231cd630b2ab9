"""Conflicting pairs fired at the same moment, ROUNDS times each, on PostgreSQL and on SQLite
(issue 11, class 3). Real server processes (eventlet), real sockets and REST sessions.

After every round, whatever the interleaving:
- each call was decided: ok or a domain error, never a 5xx, ``internal`` or ``unavailable``;
- the database holds (``Invariants.check``): unread counts equal the undeleted unread
  messages, a deleted message has an empty body and no reactions, every group has exactly
  one owner, seqs are gapless;
- what a third device was told agrees: a deleted message is announced deleted once and never
  updated afterwards; member:joined/left applied to the members before give the members after.
"""

from __future__ import annotations

import uuid

import pytest

from .conftest import MEMBER_CAP, ROUNDS, World
from .harness import Person, ack, assert_decided, expect, fire_together, rest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


# ---------------------------------------------------------------- helpers


def _group(owner: Person, members: list[Person], *, visibility: str = "private", admins: tuple[Person, ...] = ()
           ) -> int:
    created = expect(owner.api.post("/conversations", json={
        "type": "group", "name": f"race {uuid.uuid4().hex[:6]}", "member_ids": [m.user_id for m in members],
        "visibility": visibility,
    }), 201)
    cid = created["conversation"]["id"]
    for admin in admins:
        expect(owner.api.call("PATCH", f"/conversations/{cid}/members/{admin.user_id}", json={"role": "admin"}))
    return cid


def _send(sender: Person, cid: int, body: str = "hello") -> dict:
    answer = sender.api.post(f"/conversations/{cid}/messages", json={"body": body, "client_id": uuid.uuid4().hex})
    return expect(answer, 201)["message"]


def _delete_rest(who: Person, message_id: int, device: int = 0):
    return lambda: rest(who.apis[device].call("DELETE", f"/messages/{message_id}"))


def _delete_socket(who: Person, message_id: int, device: int = 0):
    return lambda: ack(who.devices[device].call("message:delete", {"message_id": message_id}))


def _leave(who: Person, cid: int):
    return lambda: rest(who.api.call("DELETE", f"/conversations/{cid}/members/{who.user_id}"))


def _add(actor: Person, cid: int, target: Person):
    return lambda: rest(actor.api.post(f"/conversations/{cid}/members", json={"user_id": target.user_id}))


def _remove(actor: Person, cid: int, target: Person):
    return lambda: rest(actor.api.call("DELETE", f"/conversations/{cid}/members/{target.user_id}"))


# ---------------------------------------------------------------- messages


def test_delete_delete_decrements_unread_once(world: World):
    """Two deletes of one message (the sender's two devices; or the sender and a group admin)."""
    alice, bob, dora, walt = world.alice, world.bob, world.dora, world.walt
    cid = _group(alice, [bob, dora, walt], admins=(dora,))
    for n in range(ROUNDS):
        _send(alice, cid, "stays")
        doomed = _send(alice, cid, "goes")["id"]
        world.watcher.start_round()
        second = _delete_rest(alice, doomed, device=1) if n % 2 == 0 else _delete_rest(dora, doomed)
        outcomes = fire_together(_delete_socket(alice, doomed), second)
        assert_decided(outcomes)
        world.invariants.check(cid)  # bob's and walt's unread counts lost exactly one message
        assert world.invariants.message(doomed) == {"deleted": True, "body": "", "reactions": 0}
        world.watcher.settle()
        world.watcher.assert_never_announced_after_delete(doomed)


def test_edit_racing_delete_never_brings_the_text_back(world: World):
    alice, bob, walt = world.alice, world.bob, world.walt
    cid = _group(alice, [bob, walt])
    for n in range(ROUNDS):
        message = _send(alice, cid, "original")["id"]
        world.watcher.start_round()
        edit = lambda: rest(alice.api.call("PATCH", f"/messages/{message}", json={"body": f"edited {n}"}))  # noqa: B023, E731
        outcomes = fire_together(edit, _delete_rest(alice, message, device=1))
        assert_decided(outcomes, allowed=("conflict",))  # the edit may find the message deleted
        world.invariants.check(cid)
        assert world.invariants.message(message) == {"deleted": True, "body": "", "reactions": 0}
        world.watcher.settle()
        world.watcher.assert_never_announced_after_delete(message)


def test_react_racing_delete_leaves_no_reaction(world: World):
    alice, bob, walt = world.alice, world.bob, world.walt
    cid = _group(alice, [bob, walt])
    for _ in range(ROUNDS):
        message = _send(alice, cid)["id"]
        world.watcher.start_round()
        react = lambda: rest(bob.api.post(f"/messages/{message}/reactions", json={"emoji": "👍"}))  # noqa: B023, E731
        outcomes = fire_together(react, _delete_socket(alice, message))
        assert_decided(outcomes, allowed=("conflict",))
        world.invariants.check(cid)
        assert world.invariants.message(message) == {"deleted": True, "body": "", "reactions": 0}
        world.watcher.settle()
        world.watcher.assert_never_announced_after_delete(message)


def test_send_send_with_one_client_id_stores_one_message(world: World):
    """The same send from two devices at once (an outbox retried on a second connection)."""
    alice, walt = world.alice, world.walt
    cid = _group(alice, [walt])
    for _ in range(ROUNDS):
        key = uuid.uuid4().hex
        world.watcher.start_round()
        by_socket = lambda: ack(alice.devices[0].call(  # noqa: E731
            "message:send", {"conversation_id": cid, "body": "once", "client_id": key}))  # noqa: B023
        by_rest = lambda: rest(alice.apis[1].post(  # noqa: E731
            f"/conversations/{cid}/messages", json={"body": "once", "client_id": key}))  # noqa: B023
        outcomes = fire_together(by_socket, by_rest)
        assert_decided(outcomes)
        ids = {outcome.body["message"]["id"] for outcome in outcomes}
        assert len(ids) == 1, f"two messages for one client_id: {ids}"
        stored = world.invariants.query("SELECT count(*) FROM messages WHERE client_id = :k", k=key)
        assert stored == [(1,)]
        world.invariants.check(cid)
        world.watcher.settle()
        announced = [e for e in world.watcher.events("message:new", cid) if e["message"]["client_id"] == key]
        assert len(announced) == 1, announced


def test_read_read_from_two_devices_never_moves_back(world: World):
    alice, bob, walt = world.alice, world.bob, world.walt
    cid = _group(alice, [bob, walt])
    for _ in range(ROUNDS):
        last = [_send(alice, cid, f"m{i}")["seq"] for i in range(3)][-1]
        world.watcher.start_round()
        by_socket = lambda: ack(bob.devices[0].call("read", {"conversation_id": cid, "seq": last}))  # noqa: B023, E731
        by_rest = lambda: rest(bob.apis[1].post(f"/conversations/{cid}/read", json={"seq": last - 1}))  # noqa: B023, E731
        outcomes = fire_together(by_socket, by_rest)
        assert_decided(outcomes)
        assert outcomes[0].body["last_read_seq"] == last
        assert outcomes[1].body["last_read_seq"] >= last - 1
        world.invariants.check(cid)
        assert world.invariants.membership(cid, bob.user_id) == {
            "role": "member", "last_read_seq": last, "unread_count": 0,
        }


def test_read_racing_delete_counts_the_message_once(world: World):
    """Bob reads up to a message while it is deleted: whichever comes first, it
    leaves his unread count exactly once."""
    alice, bob, walt = world.alice, world.bob, world.walt
    cid = _group(alice, [bob, walt])
    for _ in range(ROUNDS):
        _send(alice, cid, "read me")
        doomed = _send(alice, cid, "goes")
        world.watcher.start_round()
        read = lambda: ack(bob.devices[0].call("read", {"conversation_id": cid, "seq": doomed["seq"]}))  # noqa: B023, E731
        outcomes = fire_together(read, _delete_rest(alice, doomed["id"], device=1))
        assert_decided(outcomes)
        world.invariants.check(cid)
        assert world.invariants.membership(cid, bob.user_id)["unread_count"] == 0
        world.watcher.settle()
        world.watcher.assert_never_announced_after_delete(doomed["id"])


# ---------------------------------------------------------------- members


def test_owner_and_only_admin_leaving_together_leave_one_owner(world: World):
    alice, dora, walt = world.alice, world.dora, world.walt
    for _ in range(ROUNDS):
        cid = _group(alice, [dora, walt], admins=(dora,))
        before = world.invariants.members(cid)
        world.watcher.start_round()
        outcomes = fire_together(_leave(alice, cid), _leave(dora, cid))
        assert_decided(outcomes)
        after = world.invariants.members(cid)
        assert after == {walt.user_id}
        world.invariants.check(cid)  # exactly one owner: walt
        assert world.invariants.membership(cid, walt.user_id)["role"] == "owner"
        world.watcher.settle()
        world.watcher.assert_membership_announced(cid, before, after)


def test_join_join_from_two_devices_joins_once(world: World):
    alice, bob, walt = world.alice, world.bob, world.walt
    for _ in range(ROUNDS):
        cid = _group(alice, [walt], visibility="public")
        before = world.invariants.members(cid)
        world.watcher.start_round()
        join = [lambda d=d: rest(bob.apis[d].post(f"/conversations/{cid}/join")) for d in (0, 1)]  # noqa: B023
        outcomes = fire_together(*join)
        assert_decided(outcomes)
        after = world.invariants.members(cid)
        assert after == before | {bob.user_id}
        world.invariants.check(cid)
        world.watcher.settle()
        world.watcher.assert_membership_announced(cid, before, after)


def test_add_add_of_one_user_adds_once(world: World):
    """The owner and an admin add the same person at the same moment."""
    alice, dora, erin, walt = world.alice, world.dora, world.erin, world.walt
    for _ in range(ROUNDS):
        cid = _group(alice, [dora, walt], admins=(dora,))
        before = world.invariants.members(cid)
        world.watcher.start_round()
        outcomes = fire_together(_add(alice, cid, erin), _add(dora, cid, erin))
        assert_decided(outcomes)
        after = world.invariants.members(cid)
        assert after == before | {erin.user_id}
        world.invariants.check(cid)
        world.watcher.settle()
        world.watcher.assert_membership_announced(cid, before, after)


def test_add_racing_remove(world: World):
    """An admin adds while the owner removes: other people (even rounds), or the
    same person, not yet a member (odd rounds: the removal may come first and find nobody)."""
    alice, dora, erin, fay, walt = world.alice, world.dora, world.erin, world.fay, world.walt
    for n in range(ROUNDS):
        same_person = n % 2 == 1
        cid = _group(alice, [dora, walt] if same_person else [dora, walt, erin], admins=(dora,))
        before = world.invariants.members(cid)
        world.watcher.start_round()
        added = erin if same_person else fay
        outcomes = fire_together(_add(dora, cid, added), _remove(alice, cid, erin))
        assert_decided(outcomes, allowed=("not_found",) if same_person else ())
        after = world.invariants.members(cid)
        if same_person:
            removed_first = outcomes[1].code == "not_found"
            assert after == (before | {erin.user_id} if removed_first else before)
        else:
            assert after == (before - {erin.user_id}) | {fay.user_id}
        world.invariants.check(cid)
        world.watcher.settle()
        world.watcher.assert_membership_announced(cid, before, after)


# ---------------------------------------------------------------- beyond the list


def test_react_react_from_two_devices_reacts_once(world: World):
    alice, bob, walt = world.alice, world.bob, world.walt
    cid = _group(alice, [bob, walt])
    for _ in range(ROUNDS):
        message = _send(alice, cid)["id"]
        world.watcher.start_round()
        by_socket = lambda: ack(bob.devices[0].call("message:react", {"message_id": message, "emoji": "🎉"}))  # noqa: B023, E731
        by_rest = lambda: rest(bob.apis[1].post(f"/messages/{message}/reactions", json={"emoji": "🎉"}))  # noqa: B023, E731
        outcomes = fire_together(by_socket, by_rest)
        assert_decided(outcomes)
        assert all(outcome.body["message"]["reactions"] == {"🎉": [bob.user_id]} for outcome in outcomes)
        assert world.invariants.query("SELECT count(*) FROM reactions WHERE message_id = :m", m=message) == [(1,)]
        world.invariants.check(cid)
        world.watcher.settle()
        updates = [e for e in world.watcher.events("message:updated", cid) if e["message"]["id"] == message]
        assert len(updates) == 1, updates  # the second reaction changed nothing and announced nothing


def test_send_racing_removal_of_the_sender(world: World):
    """Removed at the moment they send: the message is stored only if it came
    first, and then it was announced before the sender left."""
    alice, bob, walt = world.alice, world.bob, world.walt
    for _ in range(ROUNDS):
        cid = _group(alice, [bob, walt])
        key = uuid.uuid4().hex
        world.watcher.start_round()
        send = lambda: ack(bob.devices[0].call(  # noqa: E731
            "message:send", {"conversation_id": cid, "body": "last words", "client_id": key}))  # noqa: B023
        outcomes = fire_together(send, _remove(alice, cid, bob))
        assert_decided(outcomes, allowed=("not_found", "forbidden"))
        assert outcomes[1].ok
        stored = world.invariants.query("SELECT count(*) FROM messages WHERE client_id = :k", k=key)
        assert stored == [(1 if outcomes[0].ok else 0,)], (outcomes[0], stored)
        world.invariants.check(cid)
        world.watcher.settle()
        order = [name for name, data in world.watcher.sequence()
                 if (name == "message:new" and data["message"]["client_id"] == key)
                 or (name == "member:left" and data["conversation_id"] == cid)]
        assert order == (["message:new", "member:left"] if outcomes[0].ok else ["member:left"]), order


def test_two_joins_for_the_last_place_fill_it_once(world: World):
    """The member cap under a race: one place left, two people join at once."""
    alice, bob, dora, erin, fay, walt = world.alice, world.bob, world.dora, world.erin, world.fay, world.walt
    assert MEMBER_CAP == 5
    for _ in range(ROUNDS):
        cid = _group(alice, [dora, erin, walt], visibility="public")  # 4 of 5
        before = world.invariants.members(cid)
        world.watcher.start_round()
        joins = [lambda p=p: rest(p.api.post(f"/conversations/{cid}/join")) for p in (bob, fay)]  # noqa: B023
        outcomes = fire_together(*joins)
        assert_decided(outcomes, allowed=("validation_error",))
        assert sorted(o.code for o in outcomes) == ["ok", "validation_error"], outcomes
        after = world.invariants.members(cid)
        winner = bob if outcomes[0].ok else fay
        assert after == before | {winner.user_id}
        world.invariants.check(cid)
        world.watcher.settle()
        world.watcher.assert_membership_announced(cid, before, after)
