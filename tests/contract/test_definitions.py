"""The definitions themselves: events the server can publish, the client events
the namespace handles, the limits stated once, and input validation that
answers in the contract's words."""

from __future__ import annotations

import os

import pytest

import config
from chatapp.contract import events, limits, objects
from chatapp.contract.parse import parse
from chatapp.services import events as service_events
from chatapp.services.errors import ValidationError


def test_event_names_are_unique_and_every_event_says_who_gets_it():
    names = [e.NAME for e in events.SERVER_EVENTS]
    assert len(names) == len(set(names))
    assert all(e.AUDIENCE for e in events.SERVER_EVENTS)
    assert len(events.CLIENT_EVENT_NAMES) == len(events.CLIENT_EVENTS)


def test_the_namespace_handles_exactly_the_client_events_of_the_contract():
    from chatapp.realtime.namespace import ChatNamespace

    namespace = ChatNamespace.__new__(ChatNamespace)
    ChatNamespace.__init__(namespace, tasks=None)  # type: ignore[arg-type]
    assert set(namespace.routes) == events.CLIENT_EVENT_NAMES


def test_an_event_the_contract_does_not_know_cannot_be_published():
    with pytest.raises(TypeError):
        service_events._typed("message:pinned")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        service_events._typed({"message_id": 1})  # type: ignore[arg-type]

    class Pinned(events.ServerEvent):
        NAME = "message:pinned"
        AUDIENCE = "nobody"

    with pytest.raises(TypeError):
        service_events._typed(Pinned())
    with pytest.raises(TypeError):
        service_events._typed(events.Ready(user=None, conversations=[], total_unread=0))  # type: ignore[arg-type]


def test_a_typed_event_is_published_as_its_name_and_json_ready_payload():
    event = events.Unread(conversation_id=3, unread_count=1, total_unread=4, unread_mentions=1)
    assert service_events._typed(event) == (
        "unread", {"conversation_id": 3, "unread_count": 1, "total_unread": 4, "unread_mentions": 1}
    )


def test_group_only_fields_are_absent_from_a_direct_conversation():
    direct = objects.Conversation(
        id=1, type="direct", name=None, members=[], last_seq=0, version=0, last_message=None, unread_count=0,
        last_read_seq=0, created_at="2026-12-01T00:00:00.000Z", updated_at="2026-12-01T00:00:00.000Z",
        notifications="all", muted_until=None, unread_mentions=0,
    )
    assert not {"visibility", "posting", "roles"} & set(objects.as_dict(direct))


def test_the_configuration_defaults_are_the_contract_limits():
    # config.py cannot import chatapp (chatapp/__init__ imports config); its
    # defaults are pinned to the contract here instead.
    if "CHAT_MAX_BODY_CHARS" not in os.environ:
        assert config.Config.MAX_BODY_CHARS == limits.MAX_BODY_CHARS
    if "CHAT_MAX_PAYLOAD_BYTES" not in os.environ:
        assert config.Config.MAX_PAYLOAD_BYTES == limits.MAX_PAYLOAD_BYTES
    assert config.Config.HISTORY_MAX_LIMIT == limits.HISTORY_MAX_LIMIT
    assert config.Config.HISTORY_DEFAULT_LIMIT == limits.HISTORY_DEFAULT_LIMIT
    assert config.Config.SYNC_MAX_LIMIT == limits.SYNC_MAX_LIMIT
    assert config.Config.SYNC_DEFAULT_LIMIT == limits.SYNC_DEFAULT_LIMIT


SEND = {"conversation_id": 7, "body": "hi", "client_id": "c-1"}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"conversation_id": None}, "conversation_id", "required"),
        ({"conversation_id": "7"}, "conversation_id", "must be an integer"),
        ({"conversation_id": True}, "conversation_id", "must be an integer"),
        ({"conversation_id": 7.0}, "conversation_id", "must be an integer"),
        ({"conversation_id": 0}, "conversation_id", "must be at least 1"),
        ({"conversation_id": 2**63}, "conversation_id", "out of range"),
        ({"body": 5}, "body", "must be a string"),
        ({"client_id": ""}, "client_id", "at least 1 characters"),
        ({"client_id": "x" * 65}, "client_id", "at most 64 characters"),
    ],
)
def test_a_malformed_send_is_a_validation_error_naming_the_field(change, field, reason):
    with pytest.raises(ValidationError) as refused:
        parse(events.SendPayload, {**SEND, **change})
    assert refused.value.envelope()["error"]["fields"] == {field: reason}


def test_a_missing_field_is_required_and_unknown_fields_are_ignored():
    with pytest.raises(ValidationError) as refused:
        parse(events.SendPayload, {"conversation_id": 7, "body": "hi"})
    assert refused.value.envelope()["error"]["fields"] == {"client_id": "required"}
    assert parse(events.SendPayload, {**SEND, "later": 1}) == events.SendPayload(**SEND)


def test_text_rules_stay_with_the_services():
    """Trimming, the invisible-text rule and the configurable length apply after the
    type check (services/validation.py): a padded 4000-character body is a string here."""
    padded = {**SEND, "body": "  " + "x" * limits.MAX_BODY_CHARS + "  "}
    assert parse(events.SendPayload, padded).body == padded["body"]


@pytest.mark.parametrize(
    "payload", [{"\ud87b": 1, "message_id": 2}, {"message_id": "\ud800"}]
)
def test_a_lone_surrogate_anywhere_in_a_payload_is_a_validation_error(payload):
    """msgspec encodes keys and strings as UTF-8; a lone surrogate must be the text rule's
    validation_error, not an exception that answers `internal` (found by the raw-socket fuzzer)."""
    from chatapp.contract import events as contract_events
    from chatapp.contract.parse import parse
    from chatapp.services.errors import ValidationError

    with pytest.raises(ValidationError):
        parse(contract_events.MessageIdPayload, payload)
