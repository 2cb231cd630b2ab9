"""Messages, specified at the service layer (no HTTP, no sockets).

seq is per conversation, starts at 1, strictly increasing and gapless, also
under concurrent senders; a send is idempotent by (sender, conversation,
client_id); bodies are trimmed and measured in code points; history pages by
seq; sync returns what a client missed, oldest first per conversation.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from chatapp import create_app
from chatapp.extensions import db
from chatapp.models import Conversation, Message, User
from chatapp.services import accounts, conversations, messaging
from chatapp.services import sync as catch_up
from chatapp.services.errors import Conflict, Forbidden, NotFound, ValidationError
from tests.support.services import scratch_postgres_database

MESSAGE_KEYS = {
    "id", "conversation_id", "seq", "sender_id", "body", "client_id", "created_at", "edited_at", "deleted", "reactions",
    "version", "mentions", "reply_to", "attachments",
}


@pytest.fixture
def published(app):
    """Every event the services hand to the publisher (after commit)."""
    events = []
    app.extensions["chat.publisher"] = events.append
    return events


@pytest.fixture
def chat(app, make_user):
    """alice and bob in a direct conversation; carol is an outsider."""
    app.config["RATE_MESSAGES_BURST"] = 5000
    # Password hashing is not under test here (test_accounts checks the real
    # OWASP cost); a cheap hash keeps these many small tests fast.
    app.config.update(ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    carol, _ = make_user("carol")
    conversation, _ = conversations.open_direct(alice, bob.id)
    return alice, bob, carol, conversation["id"]


def _bulk(conversation_id: int, senders: list[User], count: int) -> None:
    """Store ``count`` messages directly, as the service would (seq 1..count, last_seq):
    for read-path tests that need long histories fast. Sends are specified above."""
    db.session.add_all(
        Message(conversation_id=conversation_id, seq=i, sender_id=senders[i % len(senders)].id, body=f"m{i}",
                client_id=f"bulk-{i}")
        for i in range(1, count + 1)
    )
    db.session.get(Conversation, conversation_id).last_seq = count
    db.session.commit()


def _send_many(sender, conversation_id: int, count: int, prefix: str = "m") -> list[dict]:
    return [messaging.send_message(sender, conversation_id, f"{prefix} {i}", f"{prefix}-{i}")[0] for i in range(count)]


# ---------------------------------------------------------------- send


def test_a_sent_message_has_the_contract_shape(chat):
    alice, _, _, cid = chat
    message, created = messaging.send_message(alice, cid, "hello", "c-1")
    assert created
    assert set(message) == MESSAGE_KEYS
    assert message["conversation_id"] == cid
    assert message["sender_id"] == alice.id
    assert (message["seq"], message["body"], message["client_id"]) == (1, "hello", "c-1")
    assert message["created_at"].endswith("Z") and message["edited_at"] is None
    assert message["deleted"] is False and message["reactions"] == {}


def test_seq_starts_at_1_and_is_gapless_across_senders(chat):
    alice, bob, _, cid = chat
    seqs = []
    for i in range(6):
        sender = alice if i % 2 else bob
        seqs.append(messaging.send_message(sender, cid, f"n{i}", f"k{i}")[0]["seq"])
    assert seqs == [1, 2, 3, 4, 5, 6]


def test_seq_is_per_conversation(chat, make_user):
    alice, bob, carol, cid = chat
    other, _ = conversations.open_direct(alice, carol.id)
    messaging.send_message(alice, cid, "a", "x1")
    messaging.send_message(alice, cid, "b", "x2")
    assert messaging.send_message(alice, other["id"], "c", "x3")[0]["seq"] == 1


def test_sending_fans_out_message_new_to_every_member_after_commit(chat, published):
    alice, bob, _, cid = chat
    published.clear()
    message, _ = messaging.send_message(alice, cid, "hi", "c-1")
    new = [e for e in published if e.name == "message:new"]
    assert len(new) == 1
    assert set(new[0].users) == {alice.id, bob.id}
    assert new[0].payload == {"message": message}
    unread = [e for e in published if e.name == "unread"]
    assert [(e.users, e.payload["unread_count"], e.payload["total_unread"]) for e in unread] == [((bob.id,), 1, 1)]


def test_resending_a_client_id_returns_the_original_and_emits_nothing(chat, published):
    alice, _, _, cid = chat
    original, created = messaging.send_message(alice, cid, "hello", "same-id")
    published.clear()
    again, created_again = messaging.send_message(alice, cid, "a different body", "same-id")
    assert created and not created_again
    assert again == original
    assert published == []
    assert db.session.scalar(select(db.func.count(Message.id))) == 1
    assert db.session.get(Conversation, cid).last_seq == 1


def test_a_client_id_is_scoped_to_its_sender_and_conversation(chat):
    alice, bob, carol, cid = chat
    other, _ = conversations.open_direct(alice, carol.id)
    mine, _ = messaging.send_message(alice, cid, "one", "shared")
    bobs, bob_created = messaging.send_message(bob, cid, "two", "shared")
    elsewhere, elsewhere_created = messaging.send_message(alice, other["id"], "three", "shared")
    assert bob_created and elsewhere_created
    assert len({mine["id"], bobs["id"], elsewhere["id"]}) == 3


@pytest.mark.parametrize(
    "raw,stored",
    [
        ("  hello  ", "hello"),
        ("\n\thello\n", "hello"),
        ("\u3000wide space\u3000", "wide space"),  # Unicode whitespace too
        ("  inner   spaces stay  ", "inner   spaces stay"),
    ],
)
def test_the_stored_body_is_trimmed(chat, raw, stored):
    alice, _, _, cid = chat
    message, _ = messaging.send_message(alice, cid, raw, "c")
    assert message["body"] == stored
    assert messaging.history(alice, cid, None, None, None)[0][0]["body"] == stored


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, one glyph


@pytest.mark.parametrize(
    "body",
    [
        "x" * 4000,
        "\U0001f600" * 4000,  # non-BMP: 4000 code points, 8000 UTF-16 units
        FAMILY * 571 + "abc",  # 3997 + 3 = 4000 code points
        "  " + "\U0001f600" * 4000 + "  ",  # the limit applies after trimming
    ],
)
def test_bodies_up_to_4000_code_points_are_accepted_intact(chat, body):
    alice, _, _, cid = chat
    message, _ = messaging.send_message(alice, cid, body, "c")
    assert message["body"] == body.strip()
    assert len(message["body"]) == 4000
    assert db.session.scalar(select(Message.body).where(Message.id == message["id"])) == body.strip()


@pytest.mark.parametrize(
    "body",
    [
        "x" * 4001,
        "\U0001f600" * 4001,
        FAMILY * 571 + "abcd",
        "",
        "   ",
        "\n\t",
        None,
        42,
        ["hello"],
        {"text": "hello"},
    ],
)
def test_bad_bodies_are_a_validation_error_and_store_nothing(chat, published, body):
    alice, _, _, cid = chat
    with pytest.raises(ValidationError) as info:
        messaging.send_message(alice, cid, body, "c")
    assert "body" in info.value.extra["fields"]
    assert db.session.scalar(select(db.func.count(Message.id))) == 0
    assert not [e for e in published if e.name == "message:new"]


@pytest.mark.parametrize("client_id", ["", "x" * 65, None, 7, ["a"]])
def test_bad_client_ids_are_a_validation_error(chat, client_id):
    alice, _, _, cid = chat
    with pytest.raises(ValidationError) as info:
        messaging.send_message(alice, cid, "hello", client_id)
    assert "client_id" in info.value.extra["fields"]


def test_a_64_character_client_id_is_accepted(chat):
    alice, _, _, cid = chat
    assert messaging.send_message(alice, cid, "hello", "x" * 64)[1]


@pytest.mark.parametrize("conversation_id", ["1", 1.0, True, None, 0, -1, 2**63])
def test_a_malformed_conversation_id_is_a_validation_error(chat, conversation_id):
    alice, _, _, _ = chat
    with pytest.raises(ValidationError):
        messaging.send_message(alice, conversation_id, "hello", "c")


def test_sending_to_an_unknown_or_foreign_conversation_is_not_found(chat):
    _, _, carol, cid = chat
    with pytest.raises(NotFound):
        messaging.send_message(carol, cid, "let me in", "c")
    with pytest.raises(NotFound):
        messaging.send_message(carol, 424242, "hello", "c")
    assert db.session.scalar(select(db.func.count(Message.id))) == 0


def test_the_sender_has_read_their_own_message(chat):
    alice, bob, _, cid = chat
    messaging.send_message(bob, cid, "one", "b1")
    messaging.send_message(alice, cid, "reply", "a1")
    mine = conversations.get_conversation(alice, cid)
    assert (mine["last_read_seq"], mine["unread_count"]) == (2, 0)
    theirs = conversations.get_conversation(bob, cid)
    assert (theirs["last_read_seq"], theirs["unread_count"]) == (1, 1)


# ---------------------------------------------------------------- concurrency


@pytest.fixture(params=["sqlite-file", "postgres"])
def shared_db_app(request, tmp_path):
    """An app on a database that several threads really share (not :memory:)."""
    if request.param == "postgres":
        with scratch_postgres_database() as url:
            yield from _fresh_app(url)
    else:
        yield from _fresh_app(f"sqlite:///{tmp_path / 'chat.db'}")


def _fresh_app(url: str):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, RATE_MESSAGES_BURST=10_000)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


def _run_threads(app, count: int, work) -> list:
    results: list = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            with app.app_context():
                start.wait()
                results[index] = work(index)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def _pair(app) -> tuple[int, int, int]:
    with app.app_context():
        alice = accounts.register("alice", "correct horse").user
        bob = accounts.register("bob", "correct horse").user
        conversation, _ = conversations.open_direct(alice, bob.id)
        ids = alice.id, bob.id, conversation["id"]
        db.session.remove()
        return ids


def test_seq_stays_gapless_under_concurrent_senders(shared_db_app):
    app = shared_db_app
    alice_id, bob_id, cid = _pair(app)
    threads, per_thread = 4, 15

    def work(index: int) -> list[int]:
        sender = db.session.get(User, alice_id if index % 2 else bob_id)
        sends = [messaging.send_message(sender, cid, f"t{index} m{i}", f"t{index}-{i}") for i in range(per_thread)]
        return [message["seq"] for message, _created in sends]

    acked = [seq for seqs in _run_threads(app, threads, work) for seq in seqs]
    total = threads * per_thread
    assert sorted(acked) == list(range(1, total + 1))
    with app.app_context():
        stored = list(db.session.scalars(select(Message.seq).where(Message.conversation_id == cid)))
        assert sorted(stored) == list(range(1, total + 1))
        assert db.session.get(Conversation, cid).last_seq == total
        db.session.remove()


def test_concurrent_resends_of_one_client_id_store_one_message(shared_db_app):
    app = shared_db_app
    alice_id, _, cid = _pair(app)

    def work(_index: int) -> tuple[int, bool]:
        sender = db.session.get(User, alice_id)
        message, created = messaging.send_message(sender, cid, "only once", "retry-me")
        return message["id"], created

    results = _run_threads(app, 4, work)
    assert len({message_id for message_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Message.id))) == 1
        # The losers' rolled back seq left no gap: the next message is seq 2.
        alice = db.session.get(User, alice_id)
        assert messaging.send_message(alice, cid, "next", "next")[0]["seq"] == 2
        db.session.remove()


# ---------------------------------------------------------------- history


@pytest.fixture
def long_chat(chat):
    alice, bob, carol, cid = chat
    _bulk(cid, [alice, bob], 120)
    return alice, bob, carol, cid


def _seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in messages]


@pytest.mark.parametrize(
    "before,after,limit,expected,has_more",
    [
        (None, None, None, range(71, 121), True),  # no cursor: the latest page of 50
        (None, None, 10, range(111, 121), True),
        (71, None, None, range(21, 71), True),
        (21, None, None, range(1, 21), False),
        (1, None, None, range(0), False),
        (None, 100, None, range(101, 121), False),
        (None, 0, 10, range(1, 11), True),
        (None, 120, None, range(0), False),
        (None, None, 1000, range(21, 121), True),  # clamped to 100
        (None, 0, 100, range(1, 101), True),
        (None, 20, 100, range(21, 121), False),
        (121, None, 100, range(21, 121), True),
        (10_000, None, 5, range(116, 121), True),
    ],
)
def test_history_pages_in_ascending_seq(long_chat, before, after, limit, expected, has_more):
    alice, _, _, cid = long_chat
    messages, more = messaging.history(alice, cid, before, after, limit)
    assert _seqs(messages) == list(expected)
    assert more is has_more


def test_history_walks_back_to_the_beginning_without_gaps(long_chat):
    alice, _, _, cid = long_chat
    seen, before, more = [], None, True
    while more:
        page, more = messaging.history(alice, cid, before, None, 30)
        seen = _seqs(page) + seen
        before = page[0]["seq"]
    assert seen == list(range(1, 121))


@pytest.mark.parametrize(
    "before,after,limit",
    [
        (10, 5, None),  # before with after
        (-1, None, None),
        (None, -1, None),
        ("10", None, None),
        (None, 1.5, None),
        (None, None, 0),
        (None, None, -3),
        (None, None, "50"),
        (True, None, None),
    ],
)
def test_bad_history_parameters_are_a_validation_error(chat, before, after, limit):
    alice, _, _, cid = chat
    with pytest.raises(ValidationError):
        messaging.history(alice, cid, before, after, limit)


def test_history_of_an_empty_conversation(chat):
    alice, _, _, cid = chat
    assert messaging.history(alice, cid, None, None, None) == ([], False)


def test_history_is_not_found_for_outsiders_and_unknown_ids(chat):
    alice, _, carol, cid = chat
    messaging.send_message(alice, cid, "secret", "s")
    with pytest.raises(NotFound):
        messaging.history(carol, cid, None, None, None)
    with pytest.raises(NotFound):
        messaging.history(alice, 987654, None, None, None)


# ---------------------------------------------------------------- edit and delete


def test_a_deleted_message_keeps_its_id_and_seq_with_an_empty_body(chat, published):
    alice, bob, _, cid = chat
    first, _ = messaging.send_message(alice, cid, "oops", "a1")
    messaging.send_message(alice, cid, "fine", "a2")
    assert conversations.get_conversation(bob, cid)["unread_count"] == 2
    messaging.delete_message(alice, first["id"])
    page, _ = messaging.history(bob, cid, None, None, None)
    assert [(m["id"], m["seq"], m["deleted"], m["body"]) for m in page] == [
        (first["id"], 1, True, ""),
        (page[1]["id"], 2, False, "fine"),
    ]
    # Deleted messages do not count as unread.
    assert conversations.get_conversation(bob, cid)["unread_count"] == 1
    assert any(e.name == "message:deleted" and e.payload["seq"] == 1 for e in published)
    messaging.delete_message(alice, first["id"])  # deleting twice is a no-op


def test_only_the_sender_edits_or_deletes_in_a_direct_conversation(chat):
    alice, bob, carol, cid = chat
    message, _ = messaging.send_message(alice, cid, "mine", "a1")
    with pytest.raises(Forbidden):
        messaging.edit_message(bob, message["id"], "yours now")
    with pytest.raises(Forbidden):
        messaging.delete_message(bob, message["id"])
    with pytest.raises(NotFound):
        messaging.edit_message(carol, message["id"], "hidden")
    edited = messaging.edit_message(alice, message["id"], "  mine, edited  ")
    assert edited["body"] == "mine, edited" and edited["edited_at"] is not None
    assert edited["seq"] == message["seq"]
    messaging.delete_message(alice, message["id"])
    with pytest.raises(Conflict):
        messaging.edit_message(alice, message["id"], "too late")


def test_reactions_group_user_ids_by_emoji_and_vanish_with_the_last_user(chat):
    alice, bob, _, cid = chat
    message, _ = messaging.send_message(alice, cid, "react to me", "a1")
    messaging.react(alice, message["id"], "\U0001f44d", add=True)
    both = messaging.react(bob, message["id"], "\U0001f44d", add=True)
    assert both["reactions"] == {"\U0001f44d": [alice.id, bob.id]}
    messaging.react(alice, message["id"], "\U0001f44d", add=False)
    gone = messaging.react(bob, message["id"], "\U0001f44d", add=False)
    assert gone["reactions"] == {}


# ---------------------------------------------------------------- sync


@pytest.fixture
def two_chats(chat):
    alice, bob, carol, cid = chat
    other, _ = conversations.open_direct(alice, carol.id)
    _send_many(bob, cid, 5, "bob")
    _send_many(carol, other["id"], 3, "carol")
    return alice, bob, carol, cid, other["id"]


def sync_v1(user, cursors, limit):
    """``sync`` as a v1 client calls it (cursors only): (messages, has_more)."""
    answer = catch_up.sync(user, cursors, limit)
    assert set(answer) == {"messages", "has_more"}
    return answer["messages"], answer["has_more"]


def test_sync_returns_what_was_missed_ascending_per_conversation(two_chats):
    alice, _, _, cid, other = two_chats
    messages, has_more = sync_v1(alice, {str(cid): 2, str(other): 0}, None)
    assert [(m["conversation_id"], m["seq"]) for m in messages] == [
        (cid, 3), (cid, 4), (cid, 5), (other, 1), (other, 2), (other, 3),
    ]
    assert has_more is False
    assert sync_v1(alice, {str(cid): 5, str(other): 3}, None) == ([], False)


def test_sync_ignores_cursors_of_conversations_the_caller_cannot_see(two_chats):
    alice, bob, carol, cid, other = two_chats
    # bob is not in alice/carol's conversation; 999999 does not exist.
    messages, has_more = sync_v1(bob, {str(cid): 4, str(other): 0, "999999": 0}, None)
    assert [(m["conversation_id"], m["seq"]) for m in messages] == [(cid, 5)]
    assert has_more is False


def test_sync_caps_the_total_and_says_there_is_more(two_chats):
    alice, _, _, cid, other = two_chats
    cursors = {str(cid): 0, str(other): 0}
    collected = []
    while True:
        page, has_more = sync_v1(alice, cursors, 4)
        assert len(page) <= 4
        collected.extend(page)
        for m in page:
            cursors[str(m["conversation_id"])] = m["seq"]
        if not has_more:
            break
    assert len(collected) == 8
    assert len({m["id"] for m in collected}) == 8


def test_sync_limit_defaults_to_500_and_is_capped_at_1000(app, chat):
    alice, bob, _, cid = chat
    _bulk(cid, [bob], 1100)
    default, more = sync_v1(alice, {str(cid): 0}, None)
    assert (len(default), more) == (500, True)
    assert _seqs(default) == list(range(1, 501))
    capped, more = sync_v1(alice, {str(cid): 0}, 5000)
    assert (len(capped), more) == (1000, True)
    rest, more = sync_v1(alice, {str(cid): 1000}, 1000)
    assert (_seqs(rest), more) == (list(range(1001, 1101)), False)


@pytest.mark.parametrize(
    "cursors,limit",
    [
        (None, None),
        ([], None),
        ("1:0", None),
        ({"abc": 0}, None),
        ({"-1": 0}, None),
        ({"1.5": 0}, None),
        ({"1": "3"}, None),
        ({"1": -1}, None),
        ({"1": 2.5}, None),
        ({"1": True}, None),
        ({"1": None}, None),
        ({"1": 0}, 0),
        ({"1": 0}, "100"),
        ({"1": 0}, -1),
    ],
)
def test_bad_sync_requests_are_a_validation_error(chat, cursors, limit):
    alice, _, _, _ = chat
    with pytest.raises(ValidationError):
        sync_v1(alice, cursors, limit)


@pytest.mark.parametrize("emoji", ["\u200b", "\u2060\ufeff", "\u200d"])
def test_an_emoji_made_only_of_invisible_characters_is_refused(chat, emoji):
    alice, bob, _, cid = chat
    message, _ = messaging.send_message(alice, cid, "react to me", "inv-1")
    with pytest.raises(ValidationError) as refused:
        messaging.react(bob, message["id"], emoji, add=True)
    assert "emoji" in refused.value.envelope()["error"]["fields"]
