"""REST push subscriptions and notification settings (PROTOCOL.md v2).

Name resolution is the resolver double of tests/push (no DNS in tests): the
public push host maps to a public address, private names to private ones.
"""

from __future__ import annotations

import base64
import os

import pytest

from tests.push.resolver import dns  # noqa: F401  (fixture)

from .conftest import Caller, assert_error

PUSH_HOST = "push.example.net"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def webpush(path: str = "abc", host: str = PUSH_HOST, scheme: str = "https", **keys) -> dict:
    return {"type": "webpush", "endpoint": f"{scheme}://{host}/push/{path}",
            "keys": {"p256dh": b64(b"\x04" + os.urandom(64)), "auth": b64(os.urandom(16)), **keys}}


@pytest.fixture(autouse=True)
def public_push_host(dns):  # noqa: F811
    dns.names[PUSH_HOST] = ["93.184.215.14"]
    dns.names["intranet.example.net"] = ["10.1.2.3"]
    return dns


def test_the_config_gives_a_vapid_key_for_push_manager_subscribe(world):
    key = world.api.get("/push/config").get_json()["webpush"]["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    assert world.bob_api.get("/push/config").get_json()["webpush"]["public_key"] == key  # one per installation


def test_the_config_needs_a_login(app):
    assert_error(Caller(app, None).get("/push/config"), 401, "unauthorized")


def test_subscribing_is_201_then_200_with_the_same_id(world):
    body = {**webpush(), "device_name": "Pixel"}
    first = world.api.post("/push/subscriptions", json=body)
    again = world.api.post("/push/subscriptions", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    subscription = first.get_json()["subscription"]
    assert set(subscription) == {"id", "type", "device_name", "created_at"}  # the endpoint is never echoed
    assert (subscription["type"], subscription["device_name"]) == ("webpush", "Pixel")
    assert again.get_json()["subscription"]["id"] == subscription["id"]
    assert [s["id"] for s in world.api.get("/push/subscriptions").get_json()["subscriptions"]] == [subscription["id"]]


def test_an_endpoint_registered_by_another_user_moves_to_the_caller(world):
    body = webpush("shared-device")
    moved_id = world.api.post("/push/subscriptions", json=body).get_json()["subscription"]["id"]
    answer = world.bob_api.post("/push/subscriptions", json=body)
    assert answer.status_code == 200 and answer.get_json()["subscription"]["id"] == moved_id
    assert world.api.get("/push/subscriptions").get_json()["subscriptions"] == []
    assert len(world.bob_api.get("/push/subscriptions").get_json()["subscriptions"]) == 1


def test_an_fcm_token_is_a_subscription_too(world):
    answer = world.api.post("/push/subscriptions", json={"type": "fcm", "token": "dGVzdC10b2tlbg:APA91b" + "x" * 140})
    assert answer.status_code == 201 and answer.get_json()["subscription"]["type"] == "fcm"


def test_deleting_is_204_and_only_ones_own(world):
    sid = world.api.post("/push/subscriptions", json=webpush()).get_json()["subscription"]["id"]
    assert_error(world.bob_api.delete(f"/push/subscriptions/{sid}"), 404, "not_found")
    assert world.api.delete(f"/push/subscriptions/{sid}").status_code == 204
    assert_error(world.api.delete(f"/push/subscriptions/{sid}"), 404, "not_found")


def test_logging_out_deletes_the_subscriptions_of_that_login(world, app, make_user):
    _, token = make_user("dora")
    dora = Caller(app, token)
    dora.post("/push/subscriptions", json=webpush("dora"))
    assert dora.post("/auth/logout").status_code == 204
    _, again = make_user("dora2")
    # the endpoint is free again: another user registering it creates a new row
    assert Caller(app, again).post("/push/subscriptions", json=webpush("dora")).status_code == 201


def test_revoking_a_token_deletes_its_subscriptions_but_not_the_others(world, app):
    login = Caller(app, None).post("/auth/login", json={"username": "alice", "password": "correct horse",
                                                          "device_name": "laptop"}).get_json()
    laptop = Caller(app, login["token"])
    laptop.post("/push/subscriptions", json=webpush("laptop"))
    world.api.post("/push/subscriptions", json=webpush("phone"))
    tokens = world.api.get("/auth/tokens").get_json()["tokens"]
    laptop_id = next(t["id"] for t in tokens if t["device_name"] == "laptop")
    assert world.api.delete(f"/auth/tokens/{laptop_id}").status_code == 204
    assert len(world.api.get("/push/subscriptions").get_json()["subscriptions"]) == 1


def test_a_user_keeps_their_newest_subscriptions_up_to_the_cap(world):
    from chatapp.contract.limits import MAX_PUSH_SUBSCRIPTIONS

    ids = [world.api.post("/push/subscriptions", json=webpush(f"d{n}")).get_json()["subscription"]["id"]
           for n in range(MAX_PUSH_SUBSCRIPTIONS + 2)]
    kept = [s["id"] for s in world.api.get("/push/subscriptions").get_json()["subscriptions"]]
    assert kept == ids[2:]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (webpush(scheme="http"), "endpoint"),
        (webpush(host="127.0.0.1"), "endpoint"),
        (webpush(host="localhost"), "endpoint"),
        (webpush(host="10.0.0.8"), "endpoint"),
        (webpush(host="169.254.169.254"), "endpoint"),
        (webpush(host="[::1]"), "endpoint"),
        (webpush(host="intranet.example.net"), "endpoint"),  # a public-looking name with a private address
        (webpush(host="nowhere.invalid"), "endpoint"),
        (webpush(p256dh=b64(b"\x04" + os.urandom(10))), "keys.p256dh"),
        (webpush(p256dh=b64(b"\x02" + os.urandom(64))), "keys.p256dh"),
        (webpush(auth=b64(os.urandom(8))), "keys.auth"),
        (webpush(auth="not base64!"), "keys.auth"),
        ({"type": "webpush", "keys": {"p256dh": "x", "auth": "y"}}, "endpoint"),
        ({**webpush(), "endpoint": "https://push.example.net/" + "a" * 3000}, "endpoint"),
        ({"type": "fcm", "token": ""}, "token"),
        ({"type": "fcm", "token": "has space"}, "token"),
        ({"type": "apns", "token": "x"}, "type"),
    ],
)
def test_bad_subscriptions_are_validation_errors(world, body, field):
    error = assert_error(world.api.post("/push/subscriptions", json=body), 400, "validation_error")
    assert field in error["fields"], error
    assert world.api.get("/push/subscriptions").get_json()["subscriptions"] == []


def test_insecure_endpoints_are_allowed_only_when_configured(world, app):
    app.config["PUSH_ALLOW_INSECURE"] = True
    assert world.api.post("/push/subscriptions", json=webpush(scheme="http", host="127.0.0.1:8081")).status_code == 201


# ---------------------------------------------------------------- settings


def test_settings_answer_the_conversation_with_the_callers_level(world):
    answer = world.bob_api.patch(f"/conversations/{world.group}/settings",
                                 json={"notifications": "mentions", "muted_until": "2099-06-01T12:00:00.000Z"})
    assert answer.status_code == 200
    conversation = answer.get_json()["conversation"]
    assert (conversation["notifications"], conversation["muted_until"]) == ("mentions", "2099-06-01T12:00:00.000Z")
    listed = world.bob_api.get(f"/conversations/{world.group}").get_json()["conversation"]
    assert listed["notifications"] == "mentions"
    assert world.api.get(f"/conversations/{world.group}").get_json()["conversation"]["notifications"] == "all"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"notifications": "loud"}, "notifications"), ({"muted_until": "soon"}, "muted_until"),
     ({"muted_until": 5}, "muted_until"), ({"notifications": 1}, "notifications")],
)
def test_bad_settings_are_validation_errors(world, body, field):
    error = assert_error(world.bob_api.patch(f"/conversations/{world.group}/settings", json=body),
                         400, "validation_error")
    assert field in error["fields"]


def test_settings_of_a_conversation_one_is_not_in_are_not_found(world):
    assert_error(world.carol_api.patch(f"/conversations/{world.group}/settings", json={"notifications": "none"}),
                 404, "not_found")


def test_mentions_and_unread_mentions_over_rest(world):
    sent = world.api.post(f"/conversations/{world.group}/messages",
                          json={"body": "@bob can you look?", "client_id": "m-1"}).get_json()["message"]
    assert sent["mentions"] == [world.bob.id]
    listed = world.bob_api.get(f"/conversations/{world.group}").get_json()["conversation"]
    assert listed["unread_mentions"] == 1
