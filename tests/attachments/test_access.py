"""Who may read an upload: its uploader; once a message carries it, whoever can
read that message (a member; anyone for a public room); after the message is
deleted, nobody. Everyone else gets 404, never 403: existence does not leak."""

from __future__ import annotations

import pytest

from chatapp.extensions import db
from chatapp.services import conversations, messaging, uploads
from tests.api.conftest import assert_error

from .conftest import fetch, image_bytes, uploaded


def _attach(world, sender, conversation_id: int, upload: dict) -> int:
    message_id = world.message(sender, conversation_id)
    uploads.attach(sender.id, conversation_id, message_id, [upload["id"]])
    db.session.commit()
    return message_id


def _outcome(caller, upload: dict) -> list[int]:
    return [fetch(caller, upload["url"]).status_code, fetch(caller, upload["thumbnail_url"]).status_code]


@pytest.fixture
def photo(world) -> dict:
    return uploaded(world.api, image_bytes((300, 200)), "p.jpg")


def test_before_it_is_sent_only_the_uploader_reads_it(world, photo):
    assert _outcome(world.api, photo) == [200, 200]
    assert _outcome(world.bob_api, photo) == [404, 404]
    assert _outcome(world.carol_api, photo) == [404, 404]
    assert_error(fetch(world.bob_api, photo["url"]), 404, "not_found")


@pytest.mark.parametrize("where", ["dm", "group"])
def test_in_a_private_conversation_members_read_it_strangers_do_not(world, photo, where):
    _attach(world, world.alice, getattr(world, where), photo)
    assert _outcome(world.api, photo) == [200, 200]
    assert _outcome(world.bob_api, photo) == [200, 200]
    assert _outcome(world.carol_api, photo) == [404, 404]


def test_in_a_public_room_anyone_reads_it(world, make_user):
    conversations.join(world.alice, world.room)
    photo = uploaded(world.api, image_bytes(), "p.jpg")
    _attach(world, world.alice, world.room, photo)
    assert _outcome(world.carol_api, photo) == [200, 200]  # the owner
    assert _outcome(world.bob_api, photo) == [200, 200]  # not a member: a public room's reader


def test_a_member_who_leaves_a_group_no_longer_reads_it(world, photo):
    _attach(world, world.alice, world.group, photo)
    conversations.remove_member(world.bob, world.group, world.bob.id)
    assert _outcome(world.bob_api, photo) == [404, 404]
    assert _outcome(world.api, photo) == [200, 200]


def test_after_the_message_is_deleted_nobody_reads_it(world, photo):
    message_id = _attach(world, world.alice, world.dm, photo)
    uploads.detach_deleted(message_id)
    messaging.delete_message(world.alice, message_id)
    for caller in (world.api, world.bob_api, world.carol_api):
        assert _outcome(caller, photo) == [404, 404]


def test_a_deleted_message_hides_its_uploads_even_without_detach(world, photo):
    """The message's own deleted flag is checked too: a delete path that forgets to
    call detach_deleted still makes the attachment 404 (the purge then never frees it)."""
    message_id = _attach(world, world.alice, world.dm, photo)
    messaging.delete_message(world.alice, message_id)
    assert _outcome(world.api, photo) == [404, 404]
    assert _outcome(world.bob_api, photo) == [404, 404]


def test_an_unknown_id_is_the_same_404(world):
    assert_error(world.api.get("/uploads/424242/file/x.jpg"), 404, "not_found")
    assert_error(world.api.get("/uploads/424242/thumbnail"), 404, "not_found")
