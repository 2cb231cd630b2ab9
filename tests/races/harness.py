"""A race harness: two conflicting calls fired at the same moment against a real server.

``fire_together`` starts one thread per call and holds them all on a
``threading.Barrier`` until every one is ready, so the requests leave within
microseconds of each other and the server handles them concurrently (its
eventlet hub runs one green thread per request; on PostgreSQL each takes a
pooled connection of its own, from a pool of 30, so two racing
transactions really overlap in the database).

After each round ``Invariants`` reads the server's database directly (not
through the API) and checks what must hold whatever the interleaving, and
``Watcher`` (a third, uninvolved socket) checks what was announced.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy
from sqlalchemy import bindparam, text

from tests.support.clients import Api, Device
from tests.support.server import ServerProcess

# Codes that mean the server lost a race instead of deciding it: an integrity
# error answered as "database unavailable", or an unexpected exception.
SERVER_FAULTS = ("internal", "unavailable")


# ---------------------------------------------------------------- firing


def fire_together(*calls: Callable[[], Any], timeout: float = 20) -> list[Any]:
    """Run ``calls`` at the same moment, one thread each; their results in order.

    An exception in a call is re-raised here (the first one), after every
    thread has finished."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a racing call hung"
    if errors:
        raise errors[0]
    return results


@dataclass(frozen=True)
class Outcome:
    """What one racing call was answered: REST status or socket ack, reduced to a code."""

    via: str
    status: int | None
    code: str  # "ok" or the envelope's error code
    body: Any

    @property
    def ok(self) -> bool:
        return self.code == "ok"


def rest(response: requests.Response) -> Outcome:
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = response.text
    code = "ok" if response.status_code < 400 else (body or {}).get("error", {}).get("code", "?")
    return Outcome("rest", response.status_code, code, body)


def ack(answer: Any) -> Outcome:
    assert isinstance(answer, dict), f"no ack envelope: {answer!r}"
    code = "ok" if answer.get("ok") else answer.get("error", {}).get("code", "?")
    return Outcome("socket", None, code, answer)


def assert_decided(outcomes: Iterable[Outcome], allowed: Iterable[str] = ()) -> None:
    """No 5xx, no ``internal``/``unavailable``: each call was answered ok or
    with one of the ``allowed`` domain errors (e.g. ``conflict`` for an edit
    of a message deleted first)."""
    allowed_codes = {"ok", *allowed}
    for outcome in outcomes:
        assert outcome.status is None or outcome.status < 500, outcome
        assert outcome.code not in SERVER_FAULTS, outcome
        assert outcome.code in allowed_codes, outcome


# ---------------------------------------------------------------- clients


@dataclass
class Person:
    """A registered user with one REST session and one socket per device."""

    user_id: int
    username: str
    apis: list[Api]
    devices: list[Device]

    @property
    def api(self) -> Api:
        return self.apis[0]

    @property
    def socket(self) -> Device:
        return self.devices[0]


def person(server: ServerProcess, devices: int = 1, sockets: bool = True) -> Person:
    """Register a user; each further device logs in again (a token of its own)."""
    username = f"r{uuid.uuid4().hex[:10]}"
    password = "correct horse"
    answer = requests.post(server.url + "/api/v1/auth/register",
                           json={"username": username, "password": password}, timeout=10)
    assert answer.status_code == 201, answer.text
    tokens = [answer.json()["token"]]
    for n in range(1, devices):
        login = requests.post(server.url + "/api/v1/auth/login",
                              json={"username": username, "password": password, "device_name": f"device {n}"},
                              timeout=10)
        assert login.status_code == 200, login.text
        tokens.append(login.json()["token"])
    apis = [Api(server.url, token) for token in tokens]
    socks = [Device(server.url, token).connect() for token in tokens] if sockets else []
    return Person(answer.json()["user"]["id"], username, apis, socks)


def expect(response: requests.Response, status: int = 200) -> dict:
    """A setup call that must succeed (not part of the race)."""
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else {}


# ---------------------------------------------------------------- what was announced


class Watcher:
    """A third device that only listens: what the members were told.

    ``settle`` makes the reading exact without sleeping: every racing call has
    returned, so its events were already queued (publish happens at commit,
    before the answer); a marker message sent now is queued on the watcher's
    socket after them, and one socket delivers in order. Once the marker has
    arrived, so has everything before it."""

    def __init__(self, watcher: Person, marker_sender: Person) -> None:
        self.person = watcher
        self.device = watcher.socket
        self.sender = marker_sender
        created = expect(marker_sender.api.post("/conversations", json={"type": "direct", "user_id": watcher.user_id}),
                         201)
        self.marker_conversation = created["conversation"]["id"]
        self._marker: str | None = None
        self._marker_seen = threading.Event()
        record = self.device._recorder("message:new")

        def on_message(data: Any = None) -> None:  # record as the device does, then look for the marker
            record(data)
            if self._marker is not None and data["message"]["client_id"] == self._marker:
                self._marker_seen.set()

        self.device.client.on("message:new", on_message, namespace="/chat")

    def settle(self) -> None:
        self._marker = f"marker-{uuid.uuid4().hex}"
        self._marker_seen.clear()
        expect(self.sender.api.post(f"/conversations/{self.marker_conversation}/messages",
                                    json={"body": "marker", "client_id": self._marker}), 201)
        assert self._marker_seen.wait(10), "the marker message never reached the watcher"

    def start_round(self) -> None:
        """Forget everything announced before the race (setup included)."""
        self.settle()
        self.device.clear()

    def events(self, name: str, conversation_id: int | None = None) -> list[dict]:
        found = self.device.of(name)
        if conversation_id is None:
            return found
        return [e for e in found if _conversation_of(e) == conversation_id]

    def sequence(self) -> list[tuple[str, Any]]:
        with self.device._lock:
            return list(self.device.events)

    def assert_never_announced_after_delete(self, message_id: int) -> None:
        """A deleted message is announced deleted once, and never updated afterwards."""
        seen_deleted = False
        for name, data in self.sequence():
            if name == "message:deleted" and data["message_id"] == message_id:
                assert not seen_deleted, f"message {message_id} announced deleted twice"
                seen_deleted = True
            elif name == "message:updated" and data["message"]["id"] == message_id:
                assert not seen_deleted, f"message:updated after message:deleted: {data['message']!r}"
        assert seen_deleted, f"message {message_id} was never announced deleted"

    def assert_membership_announced(self, conversation_id: int, before: set[int], after: set[int]) -> None:
        """member:joined/left, applied in order to the members before the race, give the members after it;
        and the member list announced with the highest version (conversation:updated) is the final one.
        By version, not by arrival: two racing commits are published after their commits, and the reply
        to the first COMMIT can reach its worker after the second transaction has committed and
        published (seen once under CI load), so a client keeps the list of the highest version."""
        members = set(before)
        for name, data in self.sequence():
            if name not in ("member:joined", "member:left") or data["conversation_id"] != conversation_id:
                continue
            uid = data["user"]["id"]
            if name == "member:joined":
                assert uid not in members, f"member:joined for {uid}, already a member"
                members.add(uid)
            else:
                assert uid in members, f"member:left for {uid}, not a member"
                members.discard(uid)
        assert members == after, f"announced members {sorted(members)} != stored {sorted(after)}"
        lists = [e["conversation"] for e in self.events("conversation:updated", conversation_id)]
        if lists:
            latest = max(lists, key=lambda conversation: conversation["version"])
            assert [c["version"] for c in lists].count(latest["version"]) == 1, "two lists with one version"
            announced = {m["id"] for m in latest["members"]}
            assert announced == after, f"latest announced list {sorted(announced)} != stored {sorted(after)}"


def _conversation_of(event: Any) -> int | None:
    if not isinstance(event, dict):
        return None
    if "conversation_id" in event:
        return event["conversation_id"]
    for key in ("message", "conversation"):
        if isinstance(event.get(key), dict):
            inner = event[key]
            return inner.get("conversation_id", inner.get("id"))
    return None


# ---------------------------------------------------------------- what was stored


def _scoped(sql: str):
    """A statement over the conversations ``:cids`` (a list)."""
    return text(sql).bindparams(bindparam("cids", expanding=True))


class Invariants:
    """What must hold in the server's database after any interleaving, read in SQL."""

    UNREAD_MISMATCH = _scoped("""
        SELECT m.conversation_id, m.user_id, m.unread_count,
               (SELECT count(*) FROM messages x
                 WHERE x.conversation_id = m.conversation_id AND x.seq > m.last_read_seq
                   AND x.sender_id != m.user_id AND x.deleted = :false) AS counted
          FROM memberships m
         WHERE m.conversation_id IN :cids""")
    DELETED_NOT_BLANK = _scoped("""
        SELECT x.id, x.body, (SELECT count(*) FROM reactions r WHERE r.message_id = x.id) AS reactions
          FROM messages x
         WHERE x.conversation_id IN :cids AND x.deleted = :true
           AND (x.body != '' OR EXISTS (SELECT 1 FROM reactions r WHERE r.message_id = x.id))""")
    OWNERS = _scoped("""
        SELECT c.id, (SELECT count(*) FROM memberships m WHERE m.conversation_id = c.id AND m.role = 'owner')
          FROM conversations c
         WHERE c.id IN :cids AND c.type = 'group'
           AND EXISTS (SELECT 1 FROM memberships m WHERE m.conversation_id = c.id)""")
    SEQS = _scoped("""
        SELECT c.id, c.last_seq, count(x.id), coalesce(max(x.seq), 0)
          FROM conversations c LEFT JOIN messages x ON x.conversation_id = c.id
         WHERE c.id IN :cids
         GROUP BY c.id, c.last_seq""")

    def __init__(self, server: ServerProcess) -> None:
        url = server.database_url.replace("postgresql://", "postgresql+psycopg2://", 1)
        # One connection kept for the whole run: several checks per round, and a
        # new PostgreSQL connection per check would cost more than the check.
        self.engine = sqlalchemy.create_engine(url, pool_size=1, max_overflow=0)

    def close(self) -> None:
        self.engine.dispose()

    def query(self, sql: str, **params: Any) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]

    def members(self, conversation_id: int) -> set[int]:
        rows = self.query("SELECT user_id FROM memberships WHERE conversation_id = :c", c=conversation_id)
        return {uid for (uid,) in rows}

    def membership(self, conversation_id: int, user_id: int) -> dict | None:
        rows = self.query("SELECT role, last_read_seq, unread_count FROM memberships "
                          "WHERE conversation_id = :c AND user_id = :u", c=conversation_id, u=user_id)
        return dict(zip(("role", "last_read_seq", "unread_count"), rows[0], strict=True)) if rows else None

    def message(self, message_id: int) -> dict:
        (row,) = self.query("SELECT deleted, body FROM messages WHERE id = :m", m=message_id)
        reactions = self.query("SELECT count(*) FROM reactions WHERE message_id = :m", m=message_id)[0][0]
        return {"deleted": bool(row[0]), "body": row[1], "reactions": reactions}

    def check(self, *conversation_ids: int) -> None:
        """Every invariant, for the conversations of one race (each test keeps to
        conversations of its own, so one broken pair cannot fail the others)."""
        assert conversation_ids
        with self.engine.connect() as conn:
            flags = {"true": True, "false": False, "cids": list(conversation_ids)}
            wrong_unread = [r for r in conn.execute(self.UNREAD_MISMATCH, flags) if r.unread_count != r.counted]
            assert not wrong_unread, (
                "unread_count != undeleted unread messages (conversation, user, stored, counted): "
                f"{[tuple(r) for r in wrong_unread]}"
            )
            blank = [tuple(r) for r in conn.execute(self.DELETED_NOT_BLANK, flags)]
            assert not blank, f"deleted messages with a body or reactions (id, body, reactions): {blank}"
            owners = [tuple(r) for r in conn.execute(self.OWNERS, flags) if r[1] != 1]
            assert not owners, f"groups without exactly one owner (conversation, owners): {owners}"
            gaps = [tuple(r) for r in conn.execute(self.SEQS, flags) if not (r[1] == r[2] == r[3])]
            assert not gaps, f"seq not gapless (conversation, last_seq, messages, max seq): {gaps}"
