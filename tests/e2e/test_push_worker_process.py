"""``chat push-worker``: pushes delivered by processes of their own, beside socket
workers that only queue them (``CHAT_PUSH_WORKER=0``, what ``make cluster`` and
the deployment guide run).

A socket worker without a push loop never pushes; a push worker started later
delivers what waited in the outbox; SIGTERM stops it cleanly; two of them push
every message exactly once; one killed while sending loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from chatapp.ops.processes import PushWorkerProcess
from tests.e2e.test_push_e2e import dm, person, push_env, pushes_of, send, subscribe, wait_pushes
from tests.support.clients import Api
from tests.support.push_service import Answer, LocalPushService
from tests.support.server import PYTHON, ServerProcess, migrated_database

pytestmark = pytest.mark.e2e

QUEUE_ONLY = {"CHAT_PUSH_WORKER": "0"}


@pytest.fixture
def push_service() -> Iterator[LocalPushService]:
    with LocalPushService() as service:
        yield service


def pusher(url: str, env: dict[str, str], log_path: Path | None = None, **extra: str) -> PushWorkerProcess:
    return PushWorkerProcess(url, extra_env={**env, **extra}, python=PYTHON).start(log_path=log_path)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_queue_only_worker_never_pushes_and_a_push_worker_delivers_what_waited(kind, tmp_path, push_service):
    env = push_env()
    with migrated_database(kind, tmp_path) as url, ExitStack() as stack:
        web = ServerProcess(url, extra_env={**env, **QUEUE_ONLY}).start()
        stack.callback(web.stop)
        ana, bob = person(web.url, "ana"), person(web.url, "bob")
        bob_phone = subscribe(bob, push_service)
        message = send(ana, dm(ana, bob), "are you there?")
        time.sleep(2.0)  # four times the push delay: the socket worker would have pushed by now
        assert pushes_of(push_service, bob_phone) == []

        worker = pusher(url, env, log_path=tmp_path / "push-worker.log")  # kept after stop: read below
        stack.callback(worker.stop)
        (push,) = wait_pushes(push_service, bob_phone, 1)
        assert push.payload_json["message_id"] == message["id"]
        assert push.payload_json["body"] == "are you there?"

        started = time.monotonic()
        assert worker.stop() == 0, worker.log()
        assert time.monotonic() - started < 5.0
        assert "push worker: stopped" in worker.log()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with migrated_database("postgres", None) as url:
        yield url


def test_two_push_workers_push_every_message_exactly_once(postgres_url, push_service):
    env = push_env()
    with ExitStack() as stack:
        web = ServerProcess(postgres_url, extra_env={**env, **QUEUE_ONLY}).start()
        stack.callback(web.stop)
        for _ in range(2):
            stack.callback(pusher(postgres_url, env).stop)
        ana = person(web.url, "ana")
        people = [person(web.url, f"p{n}") for n in range(6)]
        phones = {p["user"]["id"]: subscribe(p, push_service) for p in people}
        sent = []
        for n, someone in enumerate(people * 5):
            sent.append((someone["user"]["id"], send(ana, dm(ana, someone), f"m{n}")["id"]))
        push_service.wait_for(lambda: len(push_service.received()) >= len(sent), 15)
        time.sleep(1.5)  # a duplicate would arrive by now
        got = sorted((uid, p.payload_json["message_id"]) for uid, endpoint in phones.items()
                     for p in pushes_of(push_service, endpoint))
        assert got == sorted(sent)


def test_a_push_worker_killed_while_sending_loses_no_push(postgres_url, push_service):
    env = push_env(CHAT_PUSH_LEASE_SECONDS="3", CHAT_PUSH_TIMEOUT="30")
    with ExitStack() as stack:
        web = ServerProcess(postgres_url, extra_env={**env, **QUEUE_ONLY}).start()
        stack.callback(web.stop)
        ana, bob = person(web.url, "ana"), person(web.url, "bob")
        bob_phone = subscribe(bob, push_service)
        push_service.script(bob_phone, Answer(201, delay=60))  # the first push hangs in flight
        doomed = pusher(postgres_url, env)
        stack.callback(doomed.stop)
        cid = dm(ana, bob)
        first = send(ana, cid, "one")
        push_service.wait_for(lambda: push_service.connections > 0, 5.0)
        second = send(ana, cid, "two")
        time.sleep(1.0)  # claimed too, or still queued: either way in the database only
        doomed.kill()

        stack.callback(pusher(postgres_url, env).stop)
        # The service records "one" when the doomed worker's request arrives, before
        # its 60 s stall; the new worker sends "one" again once the lease ends (at
        # least once), so two records can both be "one": wait for both messages.
        wanted = {first["id"], second["id"]}
        push_service.wait_for(lambda: {p.payload_json["message_id"] for p in pushes_of(push_service, bob_phone)}
                              >= wanted, 15)
        assert {p.payload_json["message_id"] for p in pushes_of(push_service, bob_phone)} == wanted
        assert Api(web.url, ana["token"]).get("/me").status_code == 200  # the socket worker never noticed


def test_the_shipped_deployments_queue_in_socket_workers_and_send_from_a_push_worker():
    from tests.support.server import ROOT

    systemd = ROOT / "deploy" / "systemd"
    assert "Environment=CHAT_PUSH_WORKER=0" in (systemd / "chat@.service").read_text()
    assert "ExecStart=/srv/chat/.venv/bin/chat push-worker" in (systemd / "chat-push.service").read_text()
    assert "chat-push.service" in (systemd / "chat.target").read_text()
    procfile = dict(line.split(": ", 1) for line in (ROOT / "deploy" / "Procfile").read_text().splitlines()
                    if line and not line.startswith("#"))
    assert procfile["push"] == "chat push-worker"
    assert all("CHAT_PUSH_WORKER=0" in procfile[name] for name in ("web", "web-gevent"))
