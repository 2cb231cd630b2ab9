"""Mentions and notification settings (PROTOCOL.md v2 "Mentions and notification settings")."""

from __future__ import annotations

import pytest

from chatapp.services import conversations, mentions, messaging, notification_settings, receipts
from chatapp.services.errors import NotFound, ValidationError
from chatapp.services.validation import MISSING
from tests.services.live_fixtures import Recorder, published  # noqa: F401


@pytest.fixture
def team(app, make_user):
    app.config.update(RATE_MESSAGES_BURST=1000, RATE_EDIT_BURST=1000, ARGON2_MEMORY_KIB=1024, ARGON2_TIME_COST=1)
    ana, bob, cy, stranger = (make_user(name)[0] for name in ("ana", "bob.b", "cy_3", "stranger"))
    group = conversations.create_group(ana, "Team", [bob.id, cy.id])["id"]
    return ana, bob, cy, stranger, group


def send(user, cid, body):
    return messaging.send_message(user, cid, body, f"k-{user.id}-{body}")[0]


def conversation_of(user, cid):
    return conversations.get_conversation(user, cid)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("hi @bob.b and @CY_3!", ["bob.b", "cy_3"]),
        ("thanks @bob.b.", ["bob.b.", "bob.b"]),
        ("mail ana@example.com", []),
        ("@@bob", []),
        ("@ab is too short", []),
        ("no mention at all", []),
    ],
)
def test_candidates_are_the_names_after_an_at_sign(body, expected):
    assert mentions.candidates(body) == expected


def test_mentions_name_members_only_in_ascending_id(team):
    ana, bob, cy, stranger, group = team
    message = send(ana, group, "@cy_3 @stranger @BOB.B look")
    assert message["mentions"] == sorted([bob.id, cy.id])


def test_a_mention_counts_as_an_unread_mention_until_read(team, published):  # noqa: F811
    ana, bob, cy, _, group = team
    send(ana, group, "@bob.b please review")
    send(ana, group, "and everyone else")
    assert conversation_of(bob, group)["unread_mentions"] == 1
    assert conversation_of(cy, group)["unread_mentions"] == 0
    badge = published.to(bob.id, "unread")[-1]
    assert badge["unread_mentions"] == 1 and badge["unread_count"] == 2
    receipts.mark_read(bob, group, 1)
    assert conversation_of(bob, group)["unread_mentions"] == 0
    assert published.to(bob.id, "unread")[-1]["unread_mentions"] == 0


def test_sending_clears_the_senders_own_unread_mentions(team):
    ana, bob, _, _, group = team
    send(ana, group, "@bob.b ping")
    send(bob, group, "pong")
    assert conversation_of(bob, group)["unread_mentions"] == 0


def test_deleting_a_mentioning_message_takes_its_mention_away(team, published):  # noqa: F811
    ana, bob, _, _, group = team
    message = send(ana, group, "@bob.b secret")
    messaging.delete_message(ana, message["id"])
    assert conversation_of(bob, group)["unread_mentions"] == 0
    assert published.to(bob.id, "unread")[-1]["unread_mentions"] == 0
    history, _ = messaging.history(bob, group, None, None, 10)
    assert history[-1]["mentions"] == [] and history[-1]["deleted"]


def test_mentions_follow_edits(team, published):  # noqa: F811
    ana, bob, cy, _, group = team
    message = send(ana, group, "@bob.b hello")
    published.clear()
    edited = messaging.edit_message(ana, message["id"], "@cy_3 hello")
    assert edited["mentions"] == [cy.id]
    assert conversation_of(bob, group)["unread_mentions"] == 0
    assert conversation_of(cy, group)["unread_mentions"] == 1
    assert published.to(bob.id, "unread")[-1]["unread_mentions"] == 0
    assert published.to(cy.id, "unread")[-1]["unread_mentions"] == 1


def test_an_edit_does_not_count_a_mention_for_someone_who_read_the_message(team):
    ana, bob, _, _, group = team
    message = send(ana, group, "hello")
    receipts.mark_read(bob, group, message["seq"])
    messaging.edit_message(ana, message["id"], "hello @bob.b")
    assert conversation_of(bob, group)["unread_mentions"] == 0


def test_settings_default_to_all_unmuted(team):
    ana, _, _, _, group = team
    conversation = conversation_of(ana, group)
    assert (conversation["notifications"], conversation["muted_until"]) == ("all", None)
    dm = conversations.open_direct(ana, team[1].id)[0]
    assert dm["notifications"] == "all"


def test_settings_are_the_callers_own_and_reach_only_their_devices(team, published):  # noqa: F811
    ana, bob, _, _, group = team
    before = conversation_of(ana, group)["version"]
    answer = notification_settings.update_settings(bob, group, "mentions", "2099-01-01T08:00:00Z")
    assert answer["notifications"] == "mentions"
    assert answer["muted_until"] == "2099-01-01T08:00:00.000Z"
    assert answer["version"] == before + 1
    assert conversation_of(ana, group)["notifications"] == "all"
    updates = published.named("conversation:updated")
    assert [e.users for e in updates] == [(bob.id,)]
    assert updates[0].payload["conversation"]["notifications"] == "mentions"


def test_a_field_left_out_stays_and_a_past_mute_unmutes(team):
    _, bob, _, _, group = team
    notification_settings.update_settings(bob, group, "none", "2099-01-01T08:00:00+02:00")
    kept = notification_settings.update_settings(bob, group, MISSING, MISSING)
    assert (kept["notifications"], kept["muted_until"]) == ("none", "2099-01-01T06:00:00.000Z")
    unmuted = notification_settings.update_settings(bob, group, MISSING, "2001-01-01T00:00:00Z")
    assert unmuted["muted_until"] is None and unmuted["notifications"] == "none"
    cleared = notification_settings.update_settings(bob, group, "all", None)
    assert (cleared["notifications"], cleared["muted_until"]) == ("all", None)


def test_mute_always_is_stored_as_the_far_future(team):
    _, bob, _, _, group = team
    answer = notification_settings.update_settings(bob, group, MISSING, "9999-12-31T23:59:59.999Z")
    assert answer["muted_until"] == "9999-01-01T00:00:00.000Z"


def test_settings_change_no_unread_count(team):
    ana, bob, _, _, group = team
    send(ana, group, "one")
    notification_settings.update_settings(bob, group, "none", MISSING)
    send(ana, group, "two")
    assert conversation_of(bob, group)["unread_count"] == 2


@pytest.mark.parametrize(
    ("notifications", "muted_until", "field"),
    [
        ("loud", MISSING, "notifications"),
        (MISSING, "tomorrow", "muted_until"),
        (MISSING, "2099-01-01T08:00:00", "muted_until"),  # no zone
        (MISSING, 12, "muted_until"),
    ],
)
def test_bad_settings_are_validation_errors(team, notifications, muted_until, field):
    _, bob, _, _, group = team
    with pytest.raises(ValidationError) as caught:
        notification_settings.update_settings(bob, group, notifications, muted_until)
    assert field in caught.value.envelope()["error"]["fields"]


def test_a_stranger_has_no_settings_to_change(team):
    *_, stranger, group = team
    with pytest.raises(NotFound):
        notification_settings.update_settings(stranger, group, "none", MISSING)
