"""Group commit, specified at the service layer (services/group_commit.py).

Sends that wait at the same moment share one transaction and one commit; each
is still decided alone, in order, answered with its own message or its own
error, and published only after the shared commit. A refused send costs the
others nothing; a database failure makes every send of the group run again
alone. The groups here are formed on purpose: the leader gathers until the
expected number of sends waits (threads, one app context each, as the socket
handlers have).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from chatapp import metrics
from chatapp.extensions import db
from chatapp.models import Conversation, Message, User
from chatapp.services import conversations, group_commit, messaging
from chatapp.services.errors import ChatError, ValidationError


@pytest.fixture
def people(app, make_user):
    app.config["RATE_MESSAGES_BURST"] = 5000
    app.config.update(ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    carol, _ = make_user("carol")
    direct, _ = conversations.open_direct(alice, bob.id)
    return alice.id, bob.id, carol.id, direct["id"]


@pytest.fixture
def published(app):
    events: list[Any] = []
    app.extensions["chat.publisher"] = events.append
    return events


@pytest.fixture
def commits(app):
    """Commits of the database transaction (not savepoints)."""
    count = {"n": 0}

    def on_commit(_connection: object) -> None:
        count["n"] += 1

    event.listen(db.engine, "commit", on_commit)
    yield count
    event.remove(db.engine, "commit", on_commit)


def install_group(app, size: int) -> group_commit.SendGroup:
    """A send group whose leader waits until ``size`` sends wait (at most 10 s)."""
    holder: dict[str, group_commit.SendGroup] = {}

    def gather() -> None:
        deadline = time.monotonic() + 10
        while len(holder["group"]._waiting) < size and time.monotonic() < deadline:
            time.sleep(0.005)

    holder["group"] = group_commit.SendGroup(max_size=32, gather=gather)
    app.extensions[group_commit.EXTENSION_KEY] = holder["group"]
    return holder["group"]


def together(app, sends: list[Callable[[], Any]]) -> list[Any]:
    """Run the sends at once, one thread and app context each; each one's result
    or the ChatError it raised, in order."""
    results: list[Any] = [None] * len(sends)

    def run(index: int) -> None:
        with app.app_context():
            try:
                results[index] = sends[index]()
            except ChatError as refused:
                results[index] = refused
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # arrival order = list order
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive(), "a send hung"
    return results


def send(user_id: int, conversation_id: int, body: str, client_id: str, **kw: Any) -> Callable[[], Any]:
    """A send as a socket handler makes it: the sender loaded in its own session."""
    return lambda: messaging.send_message(db.session.get(User, user_id), conversation_id, body, client_id, **kw)


def unread_of(published: list[Any], user_id: int) -> list[dict[str, Any]]:
    return [e.payload for e in published if e.name == "unread" and e.users == (user_id,)]


def stored(conversation_id: int) -> list[tuple[int, str]]:
    db.session.rollback()
    rows = db.session.execute(
        select(Message.seq, Message.body).where(Message.conversation_id == conversation_id).order_by(Message.seq)
    )
    return [tuple(row) for row in rows]


def test_sends_waiting_together_share_one_commit_and_each_gets_its_own_message(app, people, published, commits):
    alice, bob, _, cid = people
    install_group(app, 4)
    before = metrics.SEND_GROUP_SIZE._sum.get()
    results = together(app, [send(alice, cid, f"m{i}", f"c{i}") for i in range(4)])
    assert [(message["seq"], message["body"]) for message, created in results] == [(1, "m0"), (2, "m1"), (3, "m2"),
                                                                                   (4, "m3")]
    assert all(created for _, created in results)
    assert commits["n"] == 1
    assert metrics.SEND_GROUP_SIZE._sum.get() - before == 4
    assert stored(cid) == [(1, "m0"), (2, "m1"), (3, "m2"), (4, "m3")]
    news = [e.payload["message"]["seq"] for e in published if e.name == "message:new"]
    assert news == [1, 2, 3, 4]
    assert [p["unread_count"] for p in unread_of(published, bob)] == [1, 2, 3, 4]
    assert db.session.get(Conversation, cid).last_seq == 4


def test_a_refused_send_gets_its_error_and_costs_the_others_nothing(app, people, published, commits):
    alice, bob, carol, cid = people
    install_group(app, 3)
    results = together(app, [send(alice, cid, "first", "a1"), send(carol, cid, "intruder", "c1"),
                             send(bob, cid, "third", "b1")])
    assert isinstance(results[1], ChatError) and results[1].code in {"forbidden", "not_found"}
    assert [r[0]["seq"] for r in (results[0], results[2])] == [1, 2]
    assert stored(cid) == [(1, "first"), (2, "third")]
    assert commits["n"] == 1
    assert [e.payload["message"]["body"] for e in published if e.name == "message:new"] == ["first", "third"]


def test_a_send_undone_after_its_writes_leaves_no_message_no_seq_and_no_event(app, people, published):
    """Attachments are checked after the insert: a bad one undoes that send
    (message, seq, version, unread) and only that send."""
    alice, bob, _, cid = people
    install_group(app, 3)
    results = together(app, [send(alice, cid, "one", "x1"), send(alice, cid, "two", "x2", attachments=[999_999]),
                             send(bob, cid, "three", "x3")])
    assert isinstance(results[1], ValidationError)
    assert stored(cid) == [(1, "one"), (2, "three")]
    conversation = db.session.get(Conversation, cid)
    assert conversation.last_seq == 2
    assert [e.payload["message"]["body"] for e in published if e.name == "message:new"] == ["one", "three"]
    assert [p["unread_count"] for p in unread_of(published, bob)] == [1, 0]  # "three" is his: read to there


def test_a_resend_in_the_same_group_answers_the_original(app, people, commits):
    alice, _, _, cid = people
    install_group(app, 2)
    (first, created_first), (again, created_again) = together(app, [send(alice, cid, "hi", "same"),
                                                                   send(alice, cid, "hi", "same")])
    assert (created_first, created_again) == (True, False)
    assert again["id"] == first["id"]
    assert stored(cid) == [(1, "hi")]


def test_a_database_failure_runs_every_send_of_the_group_again_alone(app, people, published, commits, monkeypatch):
    """The second send's first attempt fails in the database: the group rolls
    back and each send runs alone, so every send is stored exactly once."""
    alice, bob, _, cid = people
    install_group(app, 3)
    real_store = messaging._store
    failed = threading.Event()

    def flaky_store(sender, conversation_id, body, *args):
        if body == "two" and not failed.is_set():
            failed.set()
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real_store(sender, conversation_id, body, *args)

    monkeypatch.setattr(messaging, "_store", flaky_store)
    retried = metrics.SEND_GROUP_RETRIED._value.get()
    results = together(app, [send(alice, cid, "one", "f1"), send(bob, cid, "two", "f2"),
                             send(alice, cid, "three", "f3")])
    assert [r[0]["body"] for r in results] == ["one", "two", "three"]
    assert sorted(body for _, body in stored(cid)) == ["one", "three", "two"]
    assert [seq for seq, _ in stored(cid)] == [1, 2, 3]
    assert metrics.SEND_GROUP_RETRIED._value.get() - retried == 1
    assert commits["n"] == 3  # the group's rolled back; then one per send alone
    assert sorted(e.payload["message"]["body"] for e in published if e.name == "message:new") == [
        "one", "three", "two"]


def test_groups_lock_conversations_in_one_order(app, people, make_user, monkeypatch):
    """Two workers' groups must not deadlock on PostgreSQL: a group runs its
    sends by conversation id (stable), so every group locks in one order."""
    alice, _, _, cid = people
    dave, _ = make_user("dave")
    other, _ = conversations.open_direct(db.session.get(User, alice), dave.id)
    low, high = sorted((cid, other["id"]))
    install_group(app, 3)
    order: list[str] = []
    real_store = messaging._store

    def recording_store(sender, conversation_id, body, *args):
        order.append(body)
        return real_store(sender, conversation_id, body, *args)

    monkeypatch.setattr(messaging, "_store", recording_store)
    together(app, [send(alice, high, "h1", "o1"), send(alice, low, "l1", "o2"), send(alice, high, "h2", "o3")])
    assert order == ["l1", "h1", "h2"]
    assert stored(high) == [(1, "h1"), (2, "h2")]
    assert stored(low) == [(1, "l1")]


def test_a_send_alone_commits_by_itself_without_a_savepoint(app, people, commits):
    alice, _, _, cid = people
    install_group(app, 1)
    (message, created), = together(app, [send(alice, cid, "solo", "s1")])
    assert created and message["seq"] == 1
    assert commits["n"] == 1


def test_a_forbidden_send_alone_is_answered_as_before(app, people):
    alice, bob, carol, cid = people
    install_group(app, 1)
    (refused,) = together(app, [send(carol, cid, "nope", "n1")])
    assert isinstance(refused, ChatError) and refused.code in {"forbidden", "not_found"}
    assert stored(cid) == []


def test_only_sqlite_groups_sends(app):
    """SQLite has one writer, so grouping loses no parallelism; PostgreSQL overlaps
    sends on separate connections, which one leader would serialise."""
    grouped = group_commit.EXTENSION_KEY in app.extensions
    assert grouped == (db.engine.dialect.name == "sqlite")
