"""Above capacity a worker sheds sends at once, retryably, and counts them."""

from __future__ import annotations

from chatapp.services import conversations
from tests.support.metrics import shed_total


def test_a_send_over_the_in_flight_limit_is_refused_as_unavailable_and_counted(app, make_user, socket_client):
    alice, alice_token = make_user()
    bob, _ = make_user()
    conversation, _ = conversations.open_direct(alice, bob.id)
    sock = socket_client(alice_token)
    payload = {"conversation_id": conversation["id"], "body": "hello", "client_id": "c-1"}

    app.config["MAX_SENDS_IN_FLIGHT"] = 0
    before = shed_total("sends_in_flight")
    refused = sock.emit("message:send", payload, namespace="/chat", callback=True)
    assert refused["ok"] is False
    assert refused["error"]["code"] == "unavailable"
    assert refused["error"]["retry_after"] >= 1
    assert shed_total("sends_in_flight") == before + 1

    app.config["MAX_SENDS_IN_FLIGHT"] = 256
    accepted = sock.emit("message:send", payload, namespace="/chat", callback=True)
    assert accepted["ok"] is True and accepted["message"]["seq"] == 1, "nothing was stored by the refusal"
