"""Two workers and Redis: each worker receives and decodes only the events for its own sockets.

Two real worker processes sharing PostgreSQL and a Redis prefix, each client
pinned to one worker by its port (no load balancer needed).
``chat_queue_messages_received_total`` counts, per worker, the Redis messages
it decoded (chatapp/realtime/managers.py).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.e2e.test_cluster import direct, metric, new_message, send, settled
from tests.support.clients import Device
from tests.support.clients import register as register_at
from tests.support.cluster import FAST_PRESENCE
from tests.support.server import ServerProcess, migrate
from tests.support.services import REDIS_URL, scratch_postgres_database, scratch_redis_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres]

RECEIVED = "chat_queue_messages_received_total"


class Workers:
    def __init__(self, nodes: list[ServerProcess]) -> None:
        self.nodes = nodes
        self.url = nodes[0].url


@pytest.fixture(scope="module")
def cluster():
    with scratch_postgres_database() as url, scratch_redis_prefix() as prefix:
        migrate(url)
        env = {"CHAT_REDIS_URL": REDIS_URL, "CHAT_REDIS_PREFIX": prefix, "CHAT_RATE_MESSAGES_BURST": "100000",
               "CHAT_RATE_MESSAGES_PER_SECOND": "100000", **FAST_PRESENCE}
        nodes = [ServerProcess(url, extra_env=env) for _ in range(2)]
        try:
            for node in nodes:
                node.start()
            yield Workers(nodes)
        finally:
            for node in nodes:
                node.stop()


def register(cluster: Workers) -> dict:
    return register_at(cluster.url)


@pytest.fixture
def devices(cluster):
    opened: list[Device] = []

    def connect(user: dict, worker: int) -> Device:
        device = Device(cluster.nodes[worker].url, user["token"])
        opened.append(device)
        return device.connect()

    yield connect
    for device in opened:
        device.close()


def decoded(cluster, worker: int) -> float:
    url = cluster.nodes[worker].url
    return metric(url, RECEIVED, 'channel="common"') + metric(url, RECEIVED, 'channel="worker"')


def quiet(cluster, worker: int) -> float:
    """The worker's decode count once nothing is in flight (presence of earlier connects settles)."""
    return settled(lambda: decoded(cluster, worker), tries=20, pause=0.3)


def test_a_worker_without_sockets_of_the_users_decodes_none_of_their_events(cluster, devices):
    alice, bob = register(cluster), register(cluster)
    conversation = direct(alice, bob)
    alice_w1, bob_w1 = devices(alice, 0), devices(bob, 0)
    before = quiet(cluster, 1)

    sent = [send(alice_w1, conversation["id"], f"local {i}") for i in range(5)]
    assert bob_w1.call("typing", {"conversation_id": conversation["id"], "typing": True})["ok"]

    bob_w1.wait_for("message:new", new_message(sent[-1]["id"]))
    alice_w1.wait_for("typing", lambda t: t["user_id"] == bob["user"]["id"])
    time.sleep(0.5)
    assert decoded(cluster, 1) == before, "worker 2 holds neither user and must not decode their events"


def test_two_devices_of_one_user_on_two_workers_each_get_one_copy_and_the_other_worker_one_decode(cluster, devices):
    alice, bob = register(cluster), register(cluster)
    conversation = direct(alice, bob)
    alice_w1, bob_w1, bob_w2 = devices(alice, 0), devices(bob, 0), devices(bob, 1)
    before = quiet(cluster, 1)

    sent = [send(alice_w1, conversation["id"], f"to both devices {i}") for i in range(3)]

    for device in (bob_w1, bob_w2, alice_w1):
        device.wait_for("message:new", new_message(sent[-1]["id"]))
    bob_w2.wait_for("unread", lambda u: u["unread_count"] == 3)
    time.sleep(0.3)
    for device in (bob_w1, bob_w2):
        assert [m["message"]["id"] for m in device.of("message:new")] == [m["id"] for m in sent]
    # Each send's message:new and unread reach worker 2 as one Redis message.
    assert decoded(cluster, 1) == before + len(sent)


def test_a_user_connecting_while_messages_are_published_misses_none_after_ready(cluster, devices):
    """Connect on worker 2 (where the user has no other socket) while their
    contact sends from worker 1 without pause: every message after the cursor
    in ``ready`` arrives live, every earlier one is counted in ``ready``."""
    alice, bob = register(cluster), register(cluster)
    conversation = direct(alice, bob)
    alice_w1 = devices(alice, 0)
    stop = threading.Event()
    sent: list[dict] = []

    def keep_sending() -> None:
        while not stop.is_set():
            payload = {"conversation_id": conversation["id"], "body": "racing", "client_id": uuid.uuid4().hex}
            ack = alice_w1.call("message:send", payload)
            assert ack["ok"], ack
            sent.append(ack["message"])

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        for _attempt in range(5):
            time.sleep(0.05)
            bob_w2 = Device(cluster.nodes[1].url, bob["token"])
            try:
                bob_w2.connect()
                [position] = [c for c in bob_w2.of("ready")[0]["conversations"] if c["id"] == conversation["id"]]
                time.sleep(0.2)  # a few more sends after ready
                last = sent[-1]["seq"]
                deadline = time.monotonic() + 5
                while True:
                    live = {m["message"]["seq"] for m in bob_w2.of("message:new")}
                    missing = set(range(position["last_seq"] + 1, last + 1)) - live
                    if not missing or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                assert not missing, f"sent after ready (cursor {position['last_seq']}) but never delivered: {missing}"
            finally:
                bob_w2.close()
    finally:
        stop.set()
        sender.join(10)
    assert len(sent) > 20
