"""FCM HTTP v1 against the local receiver: one access token per hour shared by
every send, the message shape (data as strings, Android priority and collapse
key, APNs headers), the read push in the background, and what each error means."""

from __future__ import annotations

import json
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chatapp.push import PushSender, PushTarget
from chatapp.push.fcm import ServiceAccount
from chatapp.push.transport import Transport
from chatapp.push.vapid import Vapid
from config import ConfigError
from tests.support.push_service import Answer, LocalFcm, fcm_invalid_token, fcm_unregistered

from .conftest import message_payload

DEVICE = PushTarget("fcm", token="device-token-1")


def test_a_message_push_is_a_data_message_with_an_apns_alert(fcm_sender, fcm) -> None:
    payload = message_payload(body="Lunch at one?", mentioned=True)

    outcome = fcm_sender.send(DEVICE, payload, topic="c42", ttl=3600)

    assert outcome.kind == "sent" and outcome.status == 200
    (push,) = fcm.received("device-token-1")
    message = push.message
    assert message["token"] == "device-token-1"
    assert message["data"] == {
        "type": "message", "conversation_id": "42", "message_id": "7", "seq": "3", "sender_id": "5",
        "title": "Ada", "body": "Lunch at one?", "mentioned": "true", "total_unread": "2",
    }  # fmt: skip
    assert message["android"] == {"priority": "high", "collapse_key": "c42", "ttl": "3600s"}
    headers = message["apns"]["headers"]
    assert (headers["apns-priority"], headers["apns-collapse-id"], headers["apns-push-type"]) == ("10", "c42", "alert")
    assert abs(int(headers["apns-expiration"]) - (time.time() + 3600)) < 5
    alert = {"title": "Ada", "body": "Lunch at one?"}
    assert message["apns"]["payload"] == {"aps": {"alert": alert, "mutable-content": 1}}
    assert push.headers["content-type"].startswith("application/json")
    assert fcm.errors == []


def test_the_collapse_key_is_the_callers_else_the_topic(fcm_sender, fcm) -> None:
    fcm_sender.send(DEVICE, message_payload(), topic="c42", collapse_key="conversation-42")
    fcm_sender.send(DEVICE, message_payload(), topic="c43")
    first, second = (push.message for push in fcm.received())
    assert first["android"]["collapse_key"] == first["apns"]["headers"]["apns-collapse-id"] == "conversation-42"
    assert second["android"]["collapse_key"] == second["apns"]["headers"]["apns-collapse-id"] == "c43"


def test_a_read_push_is_data_only_in_the_background(fcm_sender, fcm) -> None:
    payload = {"type": "read", "conversation_id": 42, "seq": 9, "total_unread": 0}

    assert fcm_sender.send(DEVICE, payload, topic="c42", urgency="normal").kind == "sent"

    message = fcm.received()[0].message
    assert message["data"] == {"type": "read", "conversation_id": "42", "seq": "9", "total_unread": "0"}
    assert message["android"]["priority"] == "normal"
    headers = message["apns"]["headers"]
    assert headers["apns-push-type"] == "background"
    assert (headers["apns-priority"], headers["apns-collapse-id"]) == ("5", "c42")
    assert message["apns"]["payload"] == {"aps": {"content-available": 1}}


def test_one_token_fetch_for_many_sends_even_when_they_start_together(fcm_sender, fcm) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def send() -> None:
        start.wait()
        outcomes.append(fcm_sender.send(DEVICE, message_payload(), topic="c1").kind)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(5):
        fcm_sender.send(DEVICE, message_payload(), topic="c1")

    assert outcomes == ["sent"] * 12
    assert fcm.token_fetches == 1
    assert len(fcm.received()) == 17


def test_the_token_is_fetched_again_shortly_before_it_expires(make_sender, tmp_path) -> None:
    with LocalFcm(expires_in=2) as fcm:
        sender = make_sender(FCM_CREDENTIALS=str(fcm.service_account(tmp_path)), FCM_SEND_URL=fcm.send_url)
        assert sender.send(DEVICE, message_payload(), topic="c1").kind == "sent"
        assert sender.send(DEVICE, message_payload(), topic="c1").kind == "sent"
        assert fcm.token_fetches == 1
        time.sleep(1.9)  # within the last tenth of its life: renewed before the receiver would refuse it
        assert sender.send(DEVICE, message_payload(), topic="c1").kind == "sent"
        assert fcm.token_fetches == 2
        assert fcm.errors == []


def test_a_401_drops_the_token_and_sends_once_more_with_a_fresh_one(fcm_sender, fcm) -> None:
    assert fcm_sender.send(DEVICE, message_payload(), topic="c1").kind == "sent"
    fcm.revoke_tokens()

    outcome = fcm_sender.send(DEVICE, message_payload(seq=4), topic="c1")

    assert outcome.kind == "sent"
    assert fcm.token_fetches == 2
    assert [push.message["data"]["seq"] for push in fcm.received()] == ["3", "4"]


def test_a_second_401_in_a_row_is_failed_not_a_loop(fcm_sender, fcm) -> None:
    unauthenticated = (401, {}, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}})
    fcm.script("device-token-1", unauthenticated, unauthenticated)
    outcome = fcm_sender.send(DEVICE, message_payload(), topic="c1")
    assert (outcome.kind, outcome.status) == ("failed", 401)
    assert fcm.token_fetches == 2


@pytest.mark.parametrize(
    ("answer", "kind", "retry_after"),
    [
        (fcm_unregistered(), "gone", None),
        ((404, {}, {"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found."}}),
         "gone", None),
        (fcm_invalid_token(), "gone", None),
        ((400, {}, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid value at 'message.data'",
                              "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                           "errorCode": "INVALID_ARGUMENT"}]}}), "failed", None),
        ((403, {}, {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "SenderId mismatch",
                              "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                           "errorCode": "SENDER_ID_MISMATCH"}]}}), "failed", None),
        ((429, {"Retry-After": "30"}, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}), "retry", 30.0),
        ((503, {}, {"error": {"code": 503, "status": "UNAVAILABLE"}}), "retry", None),
        ((500, {"Retry-After": "2"}, b"<html>oops</html>"), "retry", 2.0),
    ],
)  # fmt: skip
def test_fcm_errors_are_classified(fcm_sender, fcm, answer, kind, retry_after) -> None:
    fcm.script("device-token-1", answer)
    outcome = fcm_sender.send(DEVICE, message_payload(), topic="c1")
    assert (outcome.kind, outcome.status, outcome.retry_after) == (kind, answer[0], retry_after)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [((503, {"Retry-After": "5"}, {"error": "backend"}), "retry"), ((400, {}, {"error": "invalid_grant"}), "failed")],
)
def test_a_refused_token_request_is_the_sends_outcome(fcm_sender, fcm, answer, kind) -> None:
    fcm.script_token(answer)
    outcome = fcm_sender.send(DEVICE, message_payload(), topic="c1")
    assert outcome.kind == kind and outcome.detail.startswith("token:")
    assert fcm.received() == []
    assert fcm_sender.send(DEVICE, message_payload(), topic="c1").kind == "sent"  # the next send fetches anew


def test_sends_that_waited_for_a_failing_fetch_share_its_failure(make_sender, tmp_path) -> None:
    """A token endpoint that stalls costs one timeout, not one per waiting send."""
    with LocalFcm() as fcm:
        sender = make_sender(FCM_CREDENTIALS=str(fcm.service_account(tmp_path)), FCM_SEND_URL=fcm.send_url,
                             PUSH_TIMEOUT=0.5)  # fmt: skip
        fcm.script_token(Answer(200, delay=2.0))
        outcomes: list[str] = []
        threads = [threading.Thread(target=lambda: outcomes.append(sender.send(DEVICE, {}, topic="c1").kind))
                   for _ in range(6)]  # fmt: skip
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes == ["retry"] * 6
        assert time.monotonic() - started < 1.5
        assert fcm.token_fetches == 1


def test_the_token_url_setting_replaces_the_accounts_token_uri(make_sender, fcm, tmp_path) -> None:
    path = fcm.service_account(tmp_path)
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "token_uri": "https://oauth2.googleapis.com/token"}))
    sender = make_sender(FCM_CREDENTIALS=str(path), FCM_SEND_URL=fcm.send_url, FCM_TOKEN_URL=fcm.token_url)
    assert sender.send(DEVICE, message_payload(), topic="c1").kind == "sent"  # aud = the URL posted to
    assert fcm.errors == []


def test_without_credentials_an_fcm_device_fails_and_nothing_is_sent(sender) -> None:
    outcome = sender.send(DEVICE, message_payload(), topic="c1")
    assert outcome.kind == "failed" and "CHAT_FCM_CREDENTIALS" in outcome.detail


def test_an_fcm_target_without_a_token_fails(fcm_sender, fcm) -> None:
    assert fcm_sender.send(PushTarget("fcm"), message_payload(), topic="c1").kind == "failed"
    assert fcm.received() == [] and fcm.token_fetches == 0


@pytest.mark.parametrize(
    ("document", "message"),
    [(None, "not a readable JSON file"), ({"project_id": "p"}, "must be a service account JSON"),
     ({"project_id": "p", "client_email": "a@b", "private_key": "nope", "token_uri": "https://t"}, "not an RSA")],
)  # fmt: skip
def test_unusable_credentials_stop_the_start_naming_the_variable(tmp_path, document, message) -> None:
    path = tmp_path / "account.json"
    if document is not None:
        path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=f"CHAT_FCM_CREDENTIALS=.*{message}"):
        ServiceAccount.load(str(path))


def test_an_fcm_send_is_refused_when_no_access_token_can_be_had(tmp_path) -> None:
    """The token endpoint unreachable (connection refused): retry, no exception."""
    with LocalFcm() as fcm:
        account = ServiceAccount.load(str(fcm.service_account(tmp_path)))
        token_url = fcm.token_url
    sender = PushSender(Vapid(ec.generate_private_key(ec.SECP256R1()), "mailto:a@chat.example.org"),
                        transport=Transport(1.0), fcm_account=account, fcm_token_url=token_url,
                        fcm_send_url=f"{token_url}/v1/projects/{{project_id}}/messages:send")  # fmt: skip
    outcome = sender.send(DEVICE, message_payload(), topic="c1")
    assert outcome.kind == "retry" and outcome.detail.startswith("token:")
