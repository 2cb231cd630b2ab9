"""A plain send in one round trip on PostgreSQL (services/one_trip_send.py) is
the Python path, statement for statement: every scenario here runs twice on a
fresh database, once through the function and once through the statements one
by one, and must leave the same rows, answer the same result or error, and
publish the same events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from chatapp import create_app
from chatapp.extensions import db
from chatapp.models import Conversation, Membership, Message, PushJob, User
from chatapp.services import accounts, blocks, conversations, messaging, one_trip_send
from chatapp.services.errors import ChatError
from tests.conftest import TEST_DB, reset_database
from tests.services.test_push_outbox import add_device

pytestmark = pytest.mark.skipif(TEST_DB != "postgres", reason="a PL/pgSQL function of the session: PostgreSQL")

FAST = {"ARGON2_MEMORY_KIB": 1024, "ARGON2_TIME_COST": 1, "RATE_MESSAGES_BURST": 1000}


@dataclass
class World:
    alice: User
    bob: User
    carol: User
    direct: int  # alice and bob
    group: int  # alice, bob, carol
    published: list[Any]

    def send(self, user: User, conversation_id: int, body: str, client_id: str, **kw: Any) -> Any:
        """The result, or the error envelope of a refusal (both paths must agree on either)."""
        try:
            message, created = messaging.send_message(db.session.get(User, user.id), conversation_id, body,
                                                      client_id, **kw)
        except ChatError as refused:
            db.session.rollback()
            return refused.envelope()
        return without_times(message), created


def without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_times(v) for k, v in value.items() if k not in {"created_at", "edited_at", "updated_at"}}
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


def build_world(published: list[Any]) -> World:
    alice, bob, carol = (accounts.register(name, "correct horse", None).user for name in ("alice", "bob", "carol"))
    direct = conversations.open_direct(alice, bob.id)[0]["id"]
    group = conversations.create_group(alice, "trip", [bob.id, carol.id])["id"]
    add_device(bob)
    published.clear()  # what the set-up published is not the send's
    return World(alice, bob, carol, direct, group, published)


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """What a send writes, without its timestamps."""
    db.session.rollback()
    return {
        "messages": [tuple(r) for r in db.session.execute(
            select(Message.id, Message.conversation_id, Message.seq, Message.sender_id, Message.body,
                   Message.client_id, Message.deleted, Message.version, Message.mentions, Message.reply_to_id)
            .order_by(Message.id))],
        "memberships": [tuple(r) for r in db.session.execute(
            select(Membership.conversation_id, Membership.user_id, Membership.last_read_seq, Membership.delivered_seq,
                   Membership.unread_count, Membership.unread_mentions)
            .order_by(Membership.conversation_id, Membership.user_id))],
        "conversations": [tuple(r) for r in db.session.execute(
            select(Conversation.id, Conversation.last_seq, Conversation.version).order_by(Conversation.id))],
        "push_jobs": [tuple(r) for r in db.session.execute(
            select(PushJob.kind, PushJob.user_id, PushJob.conversation_id, PushJob.seq, PushJob.message_id,
                   PushJob.mentioned, PushJob.attempts).order_by(PushJob.id))],
    }


@dataclass
class Run:
    answers: list[Any]
    events: list[tuple[str, Any, Any]]
    rows: dict[str, list[tuple[Any, ...]]]
    trips: int  # sends the function answered


def counting(patch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the sends the function answers."""
    trips = {"n": 0}
    real_send = one_trip_send.send

    def counted(*args: Any, **kw: Any) -> Any:
        trips["n"] += 1
        return real_send(*args, **kw)

    patch.setattr(one_trip_send, "send", counted)
    return trips


@pytest.fixture
def on_both_paths(database_url: str, monkeypatch) -> Iterator[Callable[[Callable[[World], list[Any]]], list[Run]]]:
    def run(scenario: Callable[[World], list[Any]], *, config: dict[str, Any] | None = None) -> list[Run]:
        runs = []
        for one_trip in (False, True):
            app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, **{**FAST, **(config or {})})
            with app.app_context(), monkeypatch.context() as patch:
                db.create_all()
                published: list[Any] = []
                app.extensions["chat.publisher"] = published.append
                world = build_world(published)
                trips = counting(patch)
                if not one_trip:
                    patch.setattr(one_trip_send, "available", lambda _connection: False)
                answers = scenario(world)
                events = [(e.name, e.users, without_times(e.payload)) for e in published]
                runs.append(Run(answers, events, rows(), trips["n"]))
                app.extensions["chat.tasks"].shutdown()
                reset_database()
        return runs

    yield run


def assert_same(runs: list[Run], *, trips: int) -> Run:
    python, one_trip = runs
    assert python.trips == 0
    assert one_trip.trips == trips, "the sends did not take the one-round-trip path"
    assert one_trip.answers == python.answers
    assert one_trip.events == python.events
    assert one_trip.rows == python.rows
    return one_trip


def test_a_direct_message_stores_counts_queues_its_push_and_publishes_the_same(on_both_paths):
    def scenario(w: World) -> list[Any]:
        return [w.send(w.alice, w.direct, "hello", "c1"), w.send(w.alice, w.direct, "again", "c2")]

    run = assert_same(on_both_paths(scenario), trips=2)
    (first, created), _ = run.answers
    assert created and first["seq"] == 1 and first["body"] == "hello"
    assert [name for name, _, _ in run.events] == ["message:new", "unread", "message:new", "unread"]
    assert len(run.rows["push_jobs"]) == 2  # bob has a device


def test_a_sender_with_unread_messages_reads_them_by_sending(on_both_paths):
    """The read receipt and the sender's cleared badge, with totals over every conversation."""
    def scenario(w: World) -> list[Any]:
        return [w.send(w.bob, w.direct, "one", "b1"), w.send(w.bob, w.group, "two", "b2"),
                w.send(w.bob, w.direct, "three", "b3"), w.send(w.alice, w.direct, "reply", "a1")]

    run = assert_same(on_both_paths(scenario), trips=4)
    names = [name for name, _, _ in run.events[-4:]]
    assert names == ["message:new", "unread", "read", "unread"]
    badge = run.events[-1][2]
    assert badge["unread_count"] == 0 and badge["total_unread"] == 1  # the group's message is still unread


def test_a_group_message_counts_for_every_other_member(on_both_paths):
    def scenario(w: World) -> list[Any]:
        sends = [w.send(w.alice, w.group, "all of you", "g1"), w.send(w.carol, w.group, "hi", "g2")]
        return [w.bob.id, w.carol.id, *sends]

    run = assert_same(on_both_paths(scenario), trips=2)
    bob, carol = run.answers[:2]
    unread = [(users, payload["unread_count"]) for name, users, payload in run.events if name == "unread"]
    assert sorted(unread[:2]) == [((bob,), 1), ((carol,), 1)]
    assert ((bob,), 2) in unread[2:]


def test_a_resend_answers_the_original_and_publishes_nothing(on_both_paths):
    def scenario(w: World) -> list[Any]:
        first = w.send(w.alice, w.direct, "once", "same")
        before = len(w.published)
        return [first, w.send(w.alice, w.direct, "once", "same"), len(w.published) - before]

    run = assert_same(on_both_paths(scenario), trips=2)
    assert run.answers[1] == (run.answers[0][0], False) and run.answers[2] == 0


def test_refusals_give_the_same_errors_and_write_nothing(on_both_paths):
    def scenario(w: World) -> list[Any]:
        stranger = accounts.register("dave", "correct horse", None).user
        room = conversations.create_group(w.alice, "announcements", [w.bob.id], posting="admins")["id"]
        public = conversations.create_group(w.alice, "lobby", [], visibility="public")["id"]
        answers = [
            w.send(stranger, w.direct, "let me in", "x1"),  # not a member: not_found
            w.send(stranger, public, "hello", "x2"),  # a public room not joined: its precise error
            w.send(w.bob, room, "me too", "x3"),  # admins only
            w.send(w.alice, 10**6, "nowhere", "x4"),
            w.send(w.alice, w.direct, "quoting", "x5", reply_to=10**6),
        ]
        blocks.block(db.session.get(User, w.bob.id), w.alice.id)
        answers.append(w.send(w.alice, w.direct, "blocked", "x6"))
        return answers

    run = assert_same(on_both_paths(scenario), trips=6)
    codes = [answer["error"]["code"] for answer in run.answers]
    assert codes == ["not_found", "forbidden", "forbidden", "not_found", "validation_error", "forbidden"]
    assert run.rows["messages"] == []


def test_a_closed_account_refuses_direct_messages_on_both_paths(on_both_paths):
    def scenario(w: World) -> list[Any]:
        db.session.execute(text("UPDATE conversations SET posting = :nobody WHERE id = :cid"),
                           {"nobody": blocks.NOBODY_POSTS, "cid": w.direct})
        db.session.commit()
        return [w.send(w.alice, w.direct, "anyone?", "z1")]

    run = assert_same(on_both_paths(scenario), trips=1)
    assert run.answers[0]["error"]["code"] == "forbidden"


def test_replies_quote_their_original_or_are_refused(on_both_paths):
    def scenario(w: World) -> list[Any]:
        original, _ = messaging.send_message(w.alice, w.direct, "original", "r0")
        gone, _ = messaging.send_message(w.alice, w.direct, "soon gone", "r1")
        messaging.delete_message(w.alice, gone["id"])
        return [w.send(w.bob, w.direct, "answer", "r2", reply_to=original["id"]),
                w.send(w.bob, w.direct, "too late", "r3", reply_to=gone["id"])]

    run = assert_same(on_both_paths(scenario), trips=4)
    reply, created = run.answers[0]
    assert created and reply["reply_to"]["body"] == "original"
    assert run.answers[1]["error"]["code"] == "validation_error"


def test_a_rate_limited_send_is_refused_after_the_function_and_leaves_nothing(on_both_paths):
    def scenario(w: World) -> list[Any]:
        return [w.send(w.alice, w.direct, f"m{i}", f"q{i}") for i in range(3)]

    runs = on_both_paths(scenario, config={"RATE_MESSAGES_BURST": 2, "RATE_MESSAGES_PER_SECOND": 0.001})
    run = assert_same(runs, trips=3)
    assert run.answers[2]["error"]["code"] == "rate_limited"
    assert [row[2] for row in run.rows["messages"]] == [1, 2]
    assert (run.rows["conversations"][0][1]) == 2  # the refused send's seq was returned


def test_a_body_naming_someone_and_an_attachment_take_the_python_path(on_both_paths):
    def scenario(w: World) -> list[Any]:
        return [w.bob.id, w.send(w.alice, w.group, "hey @bob", "m1")]

    run = assert_same(on_both_paths(scenario), trips=0)
    bob, (message, _) = run.answers
    assert message["mentions"] == [bob]


def test_a_sender_removed_while_the_send_waited_for_the_lock_is_refused(database_url):
    """The function's re-check under the conversation's lock reads the committed state
    of that moment (each PL/pgSQL statement takes its own snapshot): a removal that
    commits while the send waits for the row lock refuses the send, and its writes
    are rolled back."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, **FAST)
    with app.app_context():
        db.create_all()
        world = build_world([])
        app.extensions["chat.publisher"] = lambda _event: None
        lock = db.engine.raw_connection()
        try:
            cursor = lock.cursor()
            cursor.execute("SELECT 1 FROM conversations WHERE id = %s FOR UPDATE", (world.group,))
            outcome: dict[str, Any] = {}

            carol_id, group = world.carol.id, world.group

            def send() -> None:
                with app.app_context():
                    outcome["one_trip"] = one_trip_send.available(db.session.connection())
                    try:
                        messaging.send_message(db.session.get(User, carol_id), group, "late", "late-1")
                    except ChatError as refused:
                        outcome["code"] = refused.code
                    db.session.remove()

            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(0.5)  # the send now waits for the lock, its standing already read
            assert sender.is_alive()
            cursor.execute("DELETE FROM memberships WHERE conversation_id = %s AND user_id = %s",
                           (world.group, world.carol.id))
            lock.commit()
            sender.join(10)
            assert not sender.is_alive()
        finally:
            lock.close()
        assert outcome == {"one_trip": True, "code": "not_found"}
        state = rows()
        assert state["messages"] == []
        assert [c for c in state["conversations"] if c[0] == world.group][0][1] == 0  # no seq taken
        app.extensions["chat.tasks"].shutdown()
        reset_database()


def test_the_function_is_generated_from_the_python_paths_statements(app):
    """Its SQL is the statements' own (a column renamed in a model reaches it at the next connection)."""
    sql = one_trip_send.function_sql(messaging.ONE_TRIP_STATEMENTS, db.engine.dialect, blocks.NOBODY_POSTS)
    assert "UPDATE conversations SET last_seq=(conversations.last_seq + CAST(1 AS INTEGER))" in sql
    assert "INSERT INTO push_jobs" in sql and "$" not in sql.replace("$chat$", "")
