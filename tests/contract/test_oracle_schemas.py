"""The oracle's schema check (tests/support/oracle.py) refuses what the contract does not allow."""

from __future__ import annotations

import pytest

from tests.support.oracle import conforms

MESSAGE = {
    "id": 1, "conversation_id": 2, "seq": 1, "sender_id": 3, "body": "hi", "client_id": "c", "version": 4,
    "created_at": "2026-12-01T09:40:00.123Z", "edited_at": None, "deleted": False, "reactions": {"👍": [3]},
    "mentions": [], "reply_to": None, "attachments": [],
}


def test_a_contract_payload_conforms():
    conforms("asyncapi", "#/components/messages/message_new/payload", {"message": MESSAGE}, "message:new")
    conforms("openapi", "#/components/schemas/Message", MESSAGE, "message")


@pytest.mark.parametrize(
    "broken",
    [
        {k: v for k, v in MESSAGE.items() if k != "seq"},
        {**MESSAGE, "seq": "1"},
        {**MESSAGE, "deleted": None},
        {**MESSAGE, "reactions": {"👍": ["3"]}},
    ],
    ids=["missing seq", "seq as text", "deleted null", "reaction user as text"],
)
def test_a_payload_off_the_contract_is_refused(broken):
    with pytest.raises(AssertionError, match="does not conform"):
        conforms("asyncapi", "#/components/messages/message_new/payload", {"message": broken}, "message:new")
    with pytest.raises(AssertionError, match="does not conform"):
        conforms("openapi", "#/components/schemas/Message", broken, "message")
