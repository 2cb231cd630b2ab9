"""Account management across two workers, one Redis message queue, one PostgreSQL
(PROTOCOL.md v2 "Account and safety"), with real python-socketio clients.

A password change or a closed account answered by one worker must tell and
disconnect the user's sockets on the other; a new display name reaches a
contact's device wherever it is connected, and never a stranger's.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.support.clients import Api, Device
from tests.support.cluster import logs, running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(workers=2) as running:
        yield running


@pytest.fixture
def devices(cluster):
    opened: list[Device] = []

    def connect(token: str, worker: int) -> Device:
        device = Device(cluster.nodes[worker].url, token)
        opened.append(device)
        try:
            return device.connect()
        except Exception as exc:
            raise AssertionError(f"connect to worker {worker} failed: {exc}\n{logs(cluster)}") from exc

    yield connect
    for device in opened:
        device.close()


def register(cluster) -> dict:
    username = f"u{uuid.uuid4().hex[:10]}"
    response = requests.post(cluster.nodes[0].url + "/api/v1/auth/register",
                             json={"username": username, "password": PASSWORD}, timeout=10)
    assert response.status_code == 201, response.text
    body = response.json()
    body["api"] = Api(cluster.nodes[0].url, body["token"])
    return body


def login(cluster, username: str, password: str = PASSWORD, device: str = "phone", worker: int = 1):
    return requests.post(cluster.nodes[worker].url + "/api/v1/auth/login",
                         json={"username": username, "password": password, "device_name": device}, timeout=10)


def token_of(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["token"]


def me(cluster, token: str, worker: int = 1) -> int:
    return requests.get(cluster.nodes[worker].url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).status_code


def test_a_password_change_on_one_worker_ends_every_other_device_on_both(cluster, devices):
    bob = register(cluster)
    name = bob["user"]["username"]
    phone_token = token_of(login(cluster, name, device="phone"))
    laptop_token = token_of(login(cluster, name, device="laptop"))
    phone = devices(phone_token, 0)
    laptop = devices(laptop_token, 1)
    own = devices(bob["token"], 1)  # the device that changes the password, connected on the other worker
    tokens = {t["device_name"]: t["id"] for t in bob["api"].get("/auth/tokens").json()["tokens"]}

    change = {"current_password": PASSWORD, "new_password": "new battery staple"}
    response = bob["api"].post("/auth/password", json=change)
    assert response.status_code == 204, response.text

    for device in (phone, laptop):
        revoked = device.wait_for("session:revoked")
        assert revoked["reason"] == "password_changed"
        assert device.disconnected.wait(5), f"a revoked socket stayed open\n{logs(cluster)}"
    # Each socket is told about its own token.
    assert phone.of("session:revoked")[0]["token_id"] == tokens["phone"]
    assert laptop.of("session:revoked")[0]["token_id"] == tokens["laptop"]
    time.sleep(0.3)
    assert own.client.connected and own.of("session:revoked") == [], "the caller's own socket stays"
    assert me(cluster, bob["token"], 0) == 200 and me(cluster, bob["token"], 1) == 200
    assert me(cluster, phone_token) == 401 and me(cluster, laptop_token, 0) == 401
    assert login(cluster, name).status_code == 401
    assert login(cluster, name, "new battery staple").status_code == 200
    with pytest.raises(Exception):  # noqa: B017 (python-socketio raises ConnectionError)
        Device(cluster.nodes[1].url, phone_token).connect()


def test_a_wrong_current_password_is_forbidden_and_nothing_ends(cluster, devices):
    bob = register(cluster)
    phone_token = token_of(login(cluster, bob["user"]["username"]))
    phone = devices(phone_token, 1)
    response = bob["api"].post("/auth/password", json={"current_password": "wrong wrong", "new_password": "x" * 12})
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert me(cluster, bob["token"], 0) == 200 and me(cluster, phone_token) == 200
    time.sleep(0.3)
    assert phone.client.connected and phone.of("session:revoked") == []


def test_a_new_display_name_reaches_a_contact_on_the_other_worker_and_not_a_stranger(cluster, devices):
    alice, bob, carol = register(cluster), register(cluster), register(cluster)
    dm = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}).json()
    bob_device = devices(bob["token"], 1)
    carol_device = devices(carol["token"], 1)
    alice_other = devices(alice["token"], 1)

    response = alice["api"].call("PATCH", "/me", json={"display_name": "Alice Liddell"})
    assert response.status_code == 200 and response.json()["user"]["display_name"] == "Alice Liddell"

    update = bob_device.wait_for("user:updated")
    assert update["user"]["id"] == alice["user"]["id"] and update["user"]["display_name"] == "Alice Liddell"
    fresh = bob["api"].get(f"/conversations/{dm['conversation']['id']}").json()["conversation"]
    assert update["versions"] == {str(fresh["id"]): fresh["version"]}
    alice_other.wait_for("user:updated")
    time.sleep(0.3)
    assert carol_device.of("user:updated") == []
    assert len(bob_device.of("user:updated")) == 1


def test_closing_an_account_disconnects_it_everywhere_and_contacts_see_the_deleted_user(cluster, devices):
    alice, bob = register(cluster), register(cluster)
    dm = alice["api"].post("/conversations", json={"type": "direct", "user_id": bob["user"]["id"]}).json()
    cid = dm["conversation"]["id"]
    first = alice["api"].post(f"/conversations/{cid}/messages", json={"body": "bye bob", "client_id": "m-1"}).json()
    alice_phone = devices(token_of(login(cluster, alice["user"]["username"])), 1)
    bob_device = devices(bob["token"], 1)

    response = alice["api"].call("DELETE", "/me", json={"password": PASSWORD})
    assert response.status_code == 204, response.text

    assert alice_phone.wait_for("session:revoked")["reason"] == "account_closed"
    assert alice_phone.disconnected.wait(5), f"the closed account's socket stayed open\n{logs(cluster)}"
    deleted = {"id": alice["user"]["id"], "username": f"deleted-{alice['user']['id']}",
               "display_name": "Deleted user", "online": False, "last_seen_at": None}
    assert bob_device.wait_for("user:updated")["user"] == deleted
    assert login(cluster, alice["user"]["username"]).status_code == 401
    history = bob["api"].get(f"/conversations/{cid}/messages").json()["messages"]
    assert [(m["id"], m["sender_id"]) for m in history] == [(first["message"]["id"], alice["user"]["id"])]
    # A device of bob's that connects now catches up with the same picture.
    later = devices(bob["token"], 0)
    ready = later.wait_for("ready")
    assert [c["id"] for c in ready["conversations"]] == [cid]
    ack = later.call("sync", {"cursors": {str(cid): 0}, "versions": {str(cid): 0}})
    assert ack["ok"] and [m["sender_id"] for m in ack["messages"]] == [alice["user"]["id"]]
    assert deleted in ack["conversations"][0]["members"]


def test_a_block_hides_presence_and_typing_both_ways_across_workers_but_not_group_messages(cluster, devices):
    alice, bob, carol = register(cluster), register(cluster), register(cluster)
    ids = [bob["user"]["id"], carol["user"]["id"]]
    group = alice["api"].post("/conversations", json={"type": "group", "name": "g", "member_ids": ids}).json()
    gid = group["conversation"]["id"]
    assert alice["api"].post(f"/users/{bob['user']['id']}/block").status_code == 204
    alice_device = devices(alice["token"], 0)
    carol_device = devices(carol["token"], 0)
    bob_device = devices(bob["token"], 1)  # bob comes online on the other worker

    carol_device.wait_for("presence", lambda p: p["user_id"] == bob["user"]["id"] and p["online"])
    assert bob_device.call("typing", {"conversation_id": gid, "typing": True})["ok"]
    assert alice_device.call("typing", {"conversation_id": gid, "typing": True})["ok"]
    carol_device.wait_for("typing", lambda t: t["user_id"] == bob["user"]["id"])
    carol_device.wait_for("typing", lambda t: t["user_id"] == alice["user"]["id"])
    sent = bob_device.call("message:send", {"conversation_id": gid, "body": "still here", "client_id": "g-1"})
    assert sent["ok"], sent
    alice_device.wait_for("message:new", lambda m: m["message"]["id"] == sent["message"]["id"])
    time.sleep(0.3)
    assert [p for p in alice_device.of("presence") if p["user_id"] == bob["user"]["id"]] == []
    assert [t for t in alice_device.of("typing") if t["user_id"] == bob["user"]["id"]] == []
    assert [t for t in bob_device.of("typing") if t["user_id"] == alice["user"]["id"]] == []
    # And the other way: alice going offline is told to carol, not to bob.
    alice_device.close()
    carol_device.wait_for("presence", lambda p: p["user_id"] == alice["user"]["id"] and not p["online"])
    time.sleep(0.3)
    assert [p for p in bob_device.of("presence") if p["user_id"] == alice["user"]["id"]] == []
    dm = bob["api"].post("/conversations", json={"type": "direct", "user_id": alice["user"]["id"]})
    assert dm.status_code == 403 and dm.json()["error"]["code"] == "forbidden"
