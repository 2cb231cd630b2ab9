"""The interface the send path calls: attach (in the send's transaction),
attachments_of (history and sync), detach_deleted (delete), preview_kind (push)."""

from __future__ import annotations

import threading

import pytest

from chatapp import create_app
from chatapp.contract import objects as contract
from chatapp.extensions import db
from chatapp.services import accounts, conversations, messaging, uploads
from chatapp.services.errors import ValidationError
from tests.conftest import TEST_DB

from .conftest import FAST, image_bytes, uploaded


def _refused(call, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        call()
    db.session.rollback()
    assert list(refused.value.extra["fields"]) == ["attachments"]
    assert reason in refused.value.extra["fields"]["attachments"]


def test_attach_returns_the_attachments_in_the_order_given(world):
    first = uploaded(world.api, b"one", "1.txt")
    second = uploaded(world.api, image_bytes((30, 20)), "2.jpg")
    third = uploaded(world.api, b"three", "3.txt")
    message_id = world.message(world.alice, world.dm)
    order = [third["id"], first["id"], second["id"]]
    attached = uploads.attach(world.alice.id, world.dm, message_id, order)
    db.session.commit()
    assert [a.id for a in attached] == order
    assert all(isinstance(a, contract.Attachment) for a in attached)
    assert contract.as_dict(attached[2]) == second
    assert [a.id for a in uploads.attachments_of([message_id])[message_id]] == order


def test_attaching_again_to_the_same_message_is_a_harmless_retry(world):
    upload = uploaded(world.api, b"x", "x.txt")
    message_id = world.message(world.alice, world.dm)
    uploads.attach(world.alice.id, world.dm, message_id, [upload["id"]])
    assert [a.id for a in uploads.attach(world.alice.id, world.dm, message_id, [upload["id"]])] == [upload["id"]]


@pytest.mark.parametrize(("ids", "reason"), [
    ("5", "must be a list"), ([0], "must be"), (["7"], "must be"), (list(range(1, 12)), "at most 10"),
])
def test_malformed_lists_are_refused(world, ids, reason):
    message_id = world.message(world.alice, world.dm)
    _refused(lambda: uploads.attach(world.alice.id, world.dm, message_id, ids), reason)


def test_each_upload_once_at_most_ten_and_only_ones_own(world):
    mine = [uploaded(world.api, str(i).encode(), f"{i}.txt")["id"] for i in range(11)]
    bobs = uploaded(world.bob_api, b"b", "b.txt")["id"]
    message_id = world.message(world.alice, world.dm)
    attach = uploads.attach
    _refused(lambda: attach(world.alice.id, world.dm, message_id, mine), "at most 10")
    _refused(lambda: attach(world.alice.id, world.dm, message_id, [mine[0], mine[0]]), "each upload once")
    _refused(lambda: attach(world.alice.id, world.dm, message_id, [mine[0], bobs]), f"no such upload: {bobs}")
    _refused(lambda: attach(world.alice.id, world.dm, message_id, [987654]), "no such upload: 987654")
    assert len(attach(world.alice.id, world.dm, message_id, mine[:10])) == 10
    db.session.commit()
    other = world.message(world.alice, world.dm, "again")
    _refused(lambda: attach(world.alice.id, world.dm, other, [mine[0]]), "attached to another message")
    assert attach(world.alice.id, world.dm, other, []) == []


def test_a_deleted_messages_uploads_are_gone_and_cannot_be_attached_again(world):
    upload = uploaded(world.api, b"x", "x.txt")
    message_id = world.message(world.alice, world.dm)
    uploads.attach(world.alice.id, world.dm, message_id, [upload["id"]])
    db.session.commit()
    uploads.detach_deleted(message_id)
    messaging.delete_message(world.alice, message_id)
    assert uploads.attachments_of([message_id]) == {message_id: []}
    other = world.message(world.alice, world.dm, "second try")
    _refused(lambda: uploads.attach(world.alice.id, world.dm, other, [upload["id"]]), "no such upload")


def test_attachments_of_answers_every_message_asked_in_one_query(world, app):
    from sqlalchemy import event

    plain = world.message(world.alice, world.dm, "plain")
    with_two = world.message(world.alice, world.dm, "two")
    ids = [uploaded(world.api, b"a", "a.txt")["id"], uploaded(world.api, b"b", "b.txt")["id"]]
    uploads.attach(world.alice.id, world.dm, with_two, ids)
    db.session.commit()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        found = uploads.attachments_of([plain, with_two])
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert found[plain] == [] and [a.id for a in found[with_two]] == ids
    assert len(statements) == 1
    assert uploads.attachments_of([]) == {}


def _attachment(content_type: str) -> contract.Attachment:
    return contract.Attachment(id=1, name="x", content_type=content_type, size=1, width=None, height=None,
                               url="/x", thumbnail_url=None)


@pytest.mark.parametrize(("types", "preview"), [
    ([], None),
    (["image/jpeg"], "Photo"),
    (["image/png", "image/gif", "image/webp"], "3 photos"),
    (["video/mp4"], "Video"),
    (["audio/webm"], "Audio file"),
    (["application/pdf"], "File"),
    (["application/octet-stream", "application/pdf"], "2 files"),
    (["image/jpeg", "video/mp4"], "2 attachments"),
])
def test_preview_kind_names_what_a_captionless_message_carries(types, preview):
    assert uploads.preview_kind([_attachment(t) for t in types]) == preview


@pytest.mark.skipif(TEST_DB != "postgres", reason="row locks and concurrent writers: PostgreSQL")
def test_two_sends_racing_for_one_upload_one_wins(database_url, tmp_path):
    """Both sends read the upload as free, then both UPDATE: the second waits for the
    first's row lock, re-checks ``message_id IS NULL`` once the first commits, matches
    nothing, and is refused: the rowcount check, not the read, decides."""
    from sqlalchemy import event

    from tests.api.conftest import Caller
    from tests.conftest import reset_database

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, UPLOAD_DIR=str(tmp_path), **FAST)
    with app.app_context():
        db.create_all()
        session = accounts.register("racer", "correct horse", None)
        bob = accounts.register("other", "correct horse", None).user
        alice_id = session.user.id
        dm, _ = conversations.open_direct(session.user, bob.id)
        first, _ = messaging.send_message(session.user, dm["id"], "one", "r1")
        second, _ = messaging.send_message(session.user, dm["id"], "two", "r2")
        upload = uploaded(Caller(app, session.token), b"contested", "c.txt")
        engine = db.engine
    both_read = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def before_update(conn, cursor, statement, *args) -> None:
        if statement.startswith("UPDATE uploads"):
            both_read.wait(5)  # both passed the read; now both write

    def send(message_id: int, hold: float) -> None:
        with app.app_context():
            try:
                uploads.attach(alice_id, dm["id"], message_id, [upload["id"]])
                threading.Event().wait(hold)  # the winner holds its row lock a moment
                db.session.commit()
                outcomes[message_id] = "attached"
            except ValidationError as refused:
                db.session.rollback()
                outcomes[message_id] = refused.extra["fields"]["attachments"]
            finally:
                db.session.remove()

    event.listen(engine, "before_cursor_execute", before_update)
    try:
        threads = [threading.Thread(target=send, args=(first["id"], 0.3)),
                   threading.Thread(target=send, args=(second["id"], 0.3))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        event.remove(engine, "before_cursor_execute", before_update)
    assert sorted(outcomes.values()) == ["an upload is attached to another message", "attached"], outcomes
    with app.app_context():
        winner = next(mid for mid, outcome in outcomes.items() if outcome == "attached")
        assert [a.id for a in uploads.attachments_of([winner])[winner]] == [upload["id"]]
        app.extensions["chat.tasks"].shutdown()
        reset_database()
