"""One commit, one message-queue publish.

With several workers every emit crosses Redis. The events of one commit (a
DM's ``message:new`` and ``unread``, a room's 99 ``unread``) travel as one
Redis message: one round trip for the sending worker, one decode for each of
the others. Checked on the real Redis channel of a stand-in worker that holds
every recipient's room (chatapp/realtime/routing.py: an emit goes only to the
workers holding its rooms); tests/e2e/test_cluster.py proves that the other
workers split the batch and deliver every event.
"""

from __future__ import annotations

import time

import orjson
import pytest
import redis

from chatapp import create_app
from chatapp.extensions import db
from chatapp.services import accounts, conversations, messaging
from chatapp.services.accounts import user_room
from chatapp.services.errors import NotFound
from tests.support.services import REDIS_URL, scratch_redis_prefix

pytestmark = pytest.mark.redis

STAND_IN = "stand-in-worker"


def published_on(channel_listener: redis.client.PubSub, seconds: float = 1.0) -> list[dict]:
    messages, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = channel_listener.get_message(timeout=0.1)
        if message and message["type"] == "message":
            messages.append(orjson.loads(message["data"]))
    return messages


@pytest.fixture
def queued_app(tmp_path):
    with scratch_redis_prefix() as prefix:
        app = create_app(
            "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'q.db'}", REDIS_URL=REDIS_URL,
            REDIS_PREFIX=prefix, ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1,
        )  # fmt: skip
        client = redis.Redis.from_url(REDIS_URL)
        listener = client.pubsub(ignore_subscribe_messages=True)
        listener.subscribe(f"{prefix}-socketio", f"{prefix}-socketio:w:{STAND_IN}")
        client.set(f"{prefix}-socketio:alive:{STAND_IN}", "1", ex=60)

        def holds(*users: int) -> None:
            """The stand-in worker has a socket of each of ``users``."""
            for uid in users:
                client.sadd(f"{prefix}-socketio:route:/chat:{user_room(uid)}", STAND_IN)

        app.extensions["test.holds"] = holds
        with app.app_context():
            db.create_all()
            yield app, listener
            app.extensions["chat.tasks"].shutdown()
            db.session.remove()
            db.drop_all()
        listener.close()
        client.close()


def test_a_direct_message_crosses_the_queue_as_one_redis_message(queued_app):
    app, listener = queued_app
    alice = accounts.register("alice", "correct horse")
    bob = accounts.register("bob", "correct horse")
    conversation, _ = conversations.open_direct(alice.user, bob.user.id)
    app.extensions["test.holds"](alice.user.id, bob.user.id)
    published_on(listener, 0.3)  # conversation:new and the like, before the send

    message, created = messaging.send_message(alice.user, conversation["id"], "hi bob", "c-1")

    assert created
    [batch] = published_on(listener)
    assert batch["method"] == "batch"
    assert [(m["method"], m["event"], sorted(m["room"])) for m in batch["messages"]] == [
        ("emit", "message:new", sorted([user_room(bob.user.id), user_room(alice.user.id)])),
        ("emit", "unread", [user_room(bob.user.id)]),
    ]
    assert batch["messages"][0]["data"] == [{"message": message}]
    unread = {"conversation_id": conversation["id"], "unread_count": 1, "total_unread": 1, "unread_mentions": 0}
    assert batch["messages"][1]["data"] == [unread]


def test_a_room_message_publishes_once_for_all_its_members(queued_app):
    app, listener = queued_app
    owner = accounts.register("owner", "correct horse")
    members = [accounts.register(f"member{i}", "correct horse") for i in range(5)]
    room = conversations.create_group(owner.user, "room", [m.user.id for m in members])
    app.extensions["test.holds"](owner.user.id, *(m.user.id for m in members))
    published_on(listener, 0.3)

    messaging.send_message(owner.user, room["id"], "hello all", "r-1")

    [batch] = published_on(listener)
    events = [m["event"] for m in batch["messages"]]
    assert events == ["message:new"] + ["unread"] * len(members)


def test_a_rolled_back_send_publishes_nothing(queued_app):
    app, listener = queued_app
    alice = accounts.register("alice", "correct horse")
    app.extensions["test.holds"](alice.user.id)
    published_on(listener, 0.3)
    with pytest.raises(NotFound):
        messaging.send_message(alice.user, 999_999, "to nowhere", "x-1")
    db.session.rollback()
    assert published_on(listener, 0.5) == []
