"""Messages carry attachments (PROTOCOL.md v2 "Attachments"): send with
``attachments``, a captionless photo, every read path shows them, the members can
read the files, deleting the message makes them 404, and a push says "Photo"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from chatapp.extensions import db
from chatapp.models import PushJob, PushSubscription
from chatapp.services import push_delivery, push_outbox
from chatapp.services import sync as catch_up
from chatapp.timeutil import utcnow

from .conftest import fetch, image_bytes, uploaded


def send(caller, cid, body="", **kw):
    return caller.post(f"/conversations/{cid}/messages", json={"body": body, "client_id": kw.pop("key", "k1"), **kw})


def test_a_captionless_photo_is_a_message(world):
    photo = uploaded(world.api, image_bytes((800, 600)), "beach.jpg")
    answer = send(world.api, world.dm, attachments=[photo["id"]])
    assert answer.status_code == 201, answer.get_json()
    message = answer.get_json()["message"]
    assert message["body"] == "" and message["attachments"] == [photo]
    assert photo["width"] == 800 and photo["thumbnail_url"]


def test_an_empty_body_without_attachments_is_still_refused(world):
    answer = send(world.api, world.dm, attachments=[])
    assert answer.status_code == 400 and "body" in answer.get_json()["error"]["fields"]


def test_every_read_path_shows_the_attachments(world):
    photo = uploaded(world.api, image_bytes((40, 30)), "a.jpg")
    doc = uploaded(world.api, b"%PDF-1.4 minimal", "doc.pdf")
    sent = send(world.api, world.group, "two files", attachments=[doc["id"], photo["id"]]).get_json()["message"]
    history = world.bob_api.get(f"/conversations/{world.group}/messages").get_json()["messages"]
    assert history[-1]["attachments"] == [doc, photo]
    listed = world.bob_api.get(f"/conversations/{world.group}").get_json()["conversation"]
    assert listed["last_message"]["attachments"] == [doc, photo]
    synced = catch_up.sync(world.bob, {str(world.group): 0}, 10)
    assert [m["attachments"] for m in synced["messages"] if m["id"] == sent["id"]] == [[doc, photo]]
    # An edit keeps them (the edited message is rendered from the model).
    edited = world.api.patch(f"/messages/{sent['id']}", json={"body": "two files (edited)"}).get_json()["message"]
    assert edited["attachments"] == [doc, photo]


def test_members_read_the_files_strangers_do_not_and_a_delete_makes_them_404(world):
    photo = uploaded(world.api, image_bytes((40, 30)), "a.jpg")
    message = send(world.api, world.dm, "look", attachments=[photo["id"]]).get_json()["message"]
    assert fetch(world.bob_api, photo["url"]).status_code == 200
    assert fetch(world.bob_api, photo["thumbnail_url"]).status_code == 200
    assert fetch(world.carol_api, photo["url"]).status_code == 404
    assert world.api.delete(f"/messages/{message['id']}").status_code == 204
    for caller in (world.api, world.bob_api):
        assert fetch(caller, photo["url"]).status_code == 404
    history = world.bob_api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert history[-1]["attachments"] == [] and history[-1]["deleted"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda w: [999999], "no such upload"),
        (lambda w: [uploaded(w.bob_api, b"bob's", "b.txt")["id"]], "no such upload"),  # not the sender's
        (lambda w: list(range(1, 13)), "at most 10"),
    ],
)
def test_attachments_must_be_the_senders_own_unsent_uploads(world, make, reason):
    answer = send(world.api, world.dm, "x", attachments=make(world))
    assert answer.status_code == 400, answer.get_json()
    assert "attachments" in answer.get_json()["error"]["fields"]
    history = world.api.get(f"/conversations/{world.dm}/messages").get_json()["messages"]
    assert history == []  # nothing of the refused send is kept


def test_an_upload_is_attached_once(world):
    photo = uploaded(world.api, image_bytes((40, 30)), "a.jpg")
    assert send(world.api, world.dm, "first", attachments=[photo["id"]], key="k1").status_code == 201
    again = send(world.api, world.group, "second", attachments=[photo["id"]], key="k2")
    assert again.status_code == 400 and "attachments" in again.get_json()["error"]["fields"]
    # The same send repeated (same client_id) answers the original, attachments included.
    repeat = send(world.api, world.dm, "first", attachments=[photo["id"]], key="k1")
    assert repeat.status_code == 200 and repeat.get_json()["message"]["attachments"] == [photo]


def test_a_captionless_photo_is_pushed_as_photo(world, app):
    import base64
    import os

    db.session.add(PushSubscription(user_id=world.bob.id, type="webpush", address="https://push.example.net/b",
                                    p256dh=base64.urlsafe_b64encode(b"\x04" + os.urandom(64)).rstrip(b"=").decode(),
                                    auth=base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(),
                                    created_at=utcnow()))
    db.session.commit()
    photo = uploaded(world.api, image_bytes((40, 30)), "a.jpg")
    send(world.api, world.dm, attachments=[photo["id"]])
    db.session.execute(update(PushJob).values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    pushes = push_delivery.plan(push_outbox.claim(10, 60))
    assert [p.payload["body"] for p in pushes] == ["Photo"]


def test_a_history_page_shows_its_own_messages_reactions_and_attachments_and_no_others(world):
    """A page finds reactions and attachments by its span of seqs (messaging.rows_to_objects):
    what it shows is exactly what the by-id lookup of sync shows for the same messages."""
    photo = uploaded(world.api, image_bytes((40, 30)), "a.jpg")
    doc = uploaded(world.api, b"%PDF-1.4 minimal", "doc.pdf")
    late = uploaded(world.api, image_bytes((20, 10)), "late.jpg")
    first = send(world.api, world.group, "first", attachments=[photo["id"]], key="s1").get_json()["message"]
    second = send(world.api, world.group, "second", attachments=[doc["id"]], key="s2").get_json()["message"]
    third = send(world.api, world.group, "third", key="s3").get_json()["message"]
    fourth = send(world.api, world.group, "fourth", attachments=[late["id"]], key="s4").get_json()["message"]
    for message, emoji in ((first, "👍"), (third, "🎉"), (fourth, "👍")):
        assert world.bob_api.post(f"/messages/{message['id']}/reactions", json={"emoji": emoji}).status_code == 200

    page = world.bob_api.get(f"/conversations/{world.group}/messages?before={fourth['seq']}&limit=2").get_json()
    assert [m["id"] for m in page["messages"]] == [second["id"], third["id"]]
    shown = {m["id"]: m for m in page["messages"]}
    assert shown[second["id"]]["attachments"] == [doc] and shown[second["id"]]["reactions"] == {}
    assert shown[third["id"]]["attachments"] == [] and shown[third["id"]]["reactions"] == {"🎉": [world.bob.id]}
    synced = catch_up.sync(world.bob, {str(world.group): 0}, 50)["messages"]
    assert page["messages"] == [m for m in synced if m["id"] in shown]
