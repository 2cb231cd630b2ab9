"""The oracle for every action (Zulip's ``verify_action``).

A device's state is what a client holds: its conversations (the contract's
Conversation objects) and the messages it has, by seq. The oracle checks the
two promises the contract makes about that state:

- live: applying, in order, the events the device received for an action to
  the state it held before gives exactly what a fresh fetch returns now;
- catch-up: a device that was offline and calls ``sync`` with its cursors and
  versions (paging while ``has_more``), then applies ``messages``,
  ``changes``, ``conversations`` and ``removed``, also ends equal to a fresh fetch.

Every payload the oracle sees is also checked against the generated documents
(``conforms``): socket events against docs/asyncapi.json, sync answers and the
objects of a fresh REST fetch against docs/openapi.json.

Presence (``online``, ``last_seen_at`` of members) is live state that is not
versioned, so it is left out of the comparison. Both checks are written against
plain callables (``fetch``), so the same oracle serves service tests and
end-to-end tests over real sockets and REST.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCS = Path(__file__).resolve().parents[2] / "docs"

Fetch = Callable[[], "DeviceState"]
# (cursors, versions, limit) -> the sync ack's fields
SyncCall = Callable[[dict[str, int], dict[str, int], int], dict[str, Any]]

PRESENCE_FIELDS = ("online", "last_seen_at")


@dataclass
class DeviceState:
    user_id: int
    conversations: dict[int, dict] = field(default_factory=dict)
    messages: dict[int, dict[int, dict]] = field(default_factory=dict)
    # What the last sync said to send next; before any sync, derived from the
    # conversations fetched (their last_seq and version, read before the history).
    held_cursors: dict[str, int] | None = None
    held_versions: dict[str, int] | None = None

    def copy(self) -> DeviceState:
        return copy.deepcopy(self)

    # ------------------------------------------------------------ cursors

    def cursors(self) -> dict[str, int]:
        if self.held_cursors is not None:
            return dict(self.held_cursors)
        return {str(cid): conversation["last_seq"] for cid, conversation in self.conversations.items()}

    def versions(self) -> dict[str, int]:
        if self.held_versions is not None:
            return dict(self.held_versions)
        return {str(cid): conversation["version"] for cid, conversation in self.conversations.items()}

    # ------------------------------------------------------------ comparison

    def comparable(self) -> dict:
        return {
            "conversations": {cid: _without_presence(c) for cid, c in sorted(self.conversations.items())},
            "messages": {cid: dict(sorted(held.items())) for cid, held in sorted(self.messages.items()) if held},
        }

    def restricted_to(self, other: DeviceState) -> DeviceState:
        """This (fresh) state limited to the messages ``other`` holds: a device holds
        a window of history, never all of it; what it holds must be exact."""
        state = DeviceState(self.user_id, copy.deepcopy(self.conversations))
        for cid, held in other.messages.items():
            mine = self.messages.get(cid, {})
            state.messages[cid] = {seq: copy.deepcopy(mine[seq]) for seq in held if seq in mine}
        return state

    # ------------------------------------------------------------ live events

    def apply(self, name: str, payload: dict) -> None:
        conforms("asyncapi", f"#/components/messages/{event_key(name)}/payload", payload, name)
        handler = getattr(self, "_on_" + name.replace(":", "_"), None)
        if handler is not None:
            handler(payload)

    def _bump(self, conversation: dict | None, version: int | None) -> None:
        if conversation is not None and version is not None:
            conversation["version"] = max(conversation["version"], version)

    def _store(self, message: dict) -> dict | None:
        cid = message["conversation_id"]
        conversation = self.conversations.get(cid)
        if conversation is None:
            return None
        self.messages.setdefault(cid, {})[message["seq"]] = copy.deepcopy(message)
        last = conversation.get("last_message")
        if last is None or message["seq"] >= last["seq"]:
            conversation["last_message"] = copy.deepcopy(message)
        self._bump(conversation, message["version"])
        return conversation

    def _on_message_new(self, payload: dict) -> None:
        message = payload["message"]
        conversation = self._store(message)
        if conversation is None:
            return
        conversation["last_seq"] = max(conversation["last_seq"], message["seq"])
        conversation["updated_at"] = message["created_at"]
        # Sending marks the sender as having read (and received) up to it.
        sender = str(message["sender_id"])
        if sender in conversation.get("receipts", {}):
            conversation["receipts"][sender] = {"last_read_seq": message["seq"], "delivered_seq": message["seq"]}
        if message["sender_id"] == self.user_id:
            conversation["last_read_seq"] = message["seq"]

    def _on_message_updated(self, payload: dict) -> None:
        message = payload["message"]
        if message["seq"] in self.messages.get(message["conversation_id"], {}) or self._is_last(message):
            self._store(message)
        else:
            self._bump(self.conversations.get(message["conversation_id"]), message["version"])

    def _is_last(self, message: dict) -> bool:
        conversation = self.conversations.get(message["conversation_id"])
        last = conversation and conversation.get("last_message")
        return bool(last and last["id"] == message["id"])

    def _on_message_deleted(self, payload: dict) -> None:
        cid, seq = payload["conversation_id"], payload["seq"]
        conversation = self.conversations.get(cid)
        targets = [self.messages.get(cid, {}).get(seq)]
        if conversation and conversation.get("last_message") and conversation["last_message"]["seq"] == seq:
            targets.append(conversation["last_message"])
        for message in filter(None, targets):
            message.update(deleted=True, body="", reactions={}, mentions=[], reply_to=None, attachments=[],
                           version=payload["version"])
        self._bump(conversation, payload["version"])

    def _on_read(self, payload: dict) -> None:
        conversation = self.conversations.get(payload["conversation_id"])
        if conversation is None:
            return
        receipt = conversation["receipts"].setdefault(str(payload["user_id"]), {"last_read_seq": 0, "delivered_seq": 0})
        receipt["last_read_seq"] = max(receipt["last_read_seq"], payload["seq"])
        receipt["delivered_seq"] = max(receipt["delivered_seq"], payload["seq"])
        if payload["user_id"] == self.user_id:
            conversation["last_read_seq"] = max(conversation["last_read_seq"], payload["seq"])
        self._bump(conversation, payload["version"])

    def _on_delivered(self, payload: dict) -> None:
        conversation = self.conversations.get(payload["conversation_id"])
        if conversation is None:
            return
        receipt = conversation["receipts"].setdefault(str(payload["user_id"]), {"last_read_seq": 0, "delivered_seq": 0})
        receipt["delivered_seq"] = max(receipt["delivered_seq"], payload["seq"])
        self._bump(conversation, payload["version"])

    def _on_unread(self, payload: dict) -> None:
        conversation = self.conversations.get(payload["conversation_id"])
        if conversation is not None:
            conversation["unread_count"] = payload["unread_count"]
            conversation["unread_mentions"] = payload["unread_mentions"]

    def _on_conversation_new(self, payload: dict) -> None:
        conversation = copy.deepcopy(payload["conversation"])
        self.conversations[conversation["id"]] = conversation
        if conversation.get("last_message"):
            self.messages.setdefault(conversation["id"], {})

    _on_conversation_updated = _on_conversation_new

    def _on_member_joined(self, payload: dict) -> None:
        self._bump(self.conversations.get(payload["conversation_id"]), payload["version"])

    def _on_member_left(self, payload: dict) -> None:
        cid = payload["conversation_id"]
        if payload["user"]["id"] == self.user_id:
            self.conversations.pop(cid, None)
            self.messages.pop(cid, None)
            return
        self._bump(self.conversations.get(cid), payload["version"])

    def _on_user_updated(self, payload: dict) -> None:
        """v2: the user reads differently (display name, a closed account) in every
        conversation the device shares with them; ``versions`` has their new versions."""
        user = payload["user"]
        for key, version in payload["versions"].items():
            conversation = self.conversations.get(int(key))
            if conversation is None:
                continue
            conversation["members"] = [
                copy.deepcopy(user) if member["id"] == user["id"] else member for member in conversation["members"]
            ]
            self._bump(conversation, version)

    # ------------------------------------------------------------ catch-up

    def apply_sync(self, answer: dict) -> None:
        conforms("openapi", "#/components/schemas/SyncAnswer", answer, "sync answer")
        for cid in answer["removed"]:
            self.conversations.pop(cid, None)
            self.messages.pop(cid, None)
        for conversation in answer["conversations"]:
            self.conversations[conversation["id"]] = copy.deepcopy(conversation)
        for message in [*answer["changes"], *answer["messages"]]:
            cid = message["conversation_id"]
            if cid in self.conversations:
                self.messages.setdefault(cid, {})[message["seq"]] = copy.deepcopy(message)


def _without_presence(conversation: dict) -> dict:
    data = copy.deepcopy(conversation)
    for member in data.get("members", []):
        for name in PRESENCE_FIELDS:
            member.pop(name, None)
    return data


# ---------------------------------------------------------------- the checks


def assert_equal_states(device: DeviceState, fresh: DeviceState, context: str) -> None:
    for conversation in fresh.conversations.values():
        conforms("openapi", "#/components/schemas/Conversation", conversation, f"{context}: fetched conversation")
    for messages in fresh.messages.values():
        for message in messages.values():
            conforms("openapi", "#/components/schemas/Message", message, f"{context}: fetched message")
    expected = fresh.restricted_to(device).comparable()
    actual = device.comparable()
    if actual != expected:
        raise AssertionError(f"{context}: device state differs from a fresh fetch\n{_diff(actual, expected)}")


def _diff(actual: dict, expected: dict) -> str:
    lines = []
    for cid in sorted(set(actual["conversations"]) | set(expected["conversations"])):
        a, e = actual["conversations"].get(cid), expected["conversations"].get(cid)
        if a != e:
            if a is None or e is None:
                lines.append(f"conversation {cid}: device {'lacks' if a is None else 'still has'} it")
            else:
                keys = sorted(k for k in set(a) | set(e) if a.get(k) != e.get(k))
                lines.extend(f"conversation {cid}.{k}: device {a.get(k)!r:.300} fresh {e.get(k)!r:.300}" for k in keys)
    for cid in sorted(set(actual["messages"]) | set(expected["messages"])):
        a, e = actual["messages"].get(cid, {}), expected["messages"].get(cid, {})
        for seq in sorted(set(a) | set(e)):
            if a.get(seq) != e.get(seq):
                lines.append(f"message {cid}/{seq}: device {a.get(seq)!r:.300} fresh {e.get(seq)!r:.300}")
    return "\n".join(lines[:40])


def catch_up(device: DeviceState, sync: SyncCall, limit: int, *, max_rounds: int = 200) -> int:
    """Page ``sync`` with the device's cursors and versions; returns the number of round trips.

    The device follows the contract's own rule for paging: it advances each
    cursor to the highest seq received and each version to the highest version
    received, then checks that the server's extension fields say the same or
    more, and uses those (they also cover conversations new to the device).
    """
    cursors, versions = device.cursors(), device.versions()
    for rounds in range(1, max_rounds + 1):
        answer = sync(cursors, versions, limit)
        assert len(answer["messages"]) + len(answer["changes"]) <= limit, "the limit counts messages and changes"
        _check_answer_order(answer)
        device.apply_sync(answer)
        expected_cursors, expected_versions = dict(cursors), dict(versions)
        for message in answer["messages"]:
            key = str(message["conversation_id"])
            expected_cursors[key] = max(expected_cursors.get(key, 0), message["seq"])
        for message in [*answer["messages"], *answer["changes"]]:
            key = str(message["conversation_id"])
            expected_versions[key] = max(expected_versions.get(key, 0), message["version"])
        for key, seq in expected_cursors.items():
            if int(key) not in answer["removed"]:
                assert answer["cursors"].get(key, -1) >= seq, (key, answer["cursors"], expected_cursors)
        for key, version in expected_versions.items():
            if int(key) not in answer["removed"]:
                assert answer["versions"].get(key, -1) >= version, (key, answer["versions"], expected_versions)
        cursors, versions = answer["cursors"], answer["versions"]
        # Keep them: a conversation object may be newer than the messages answered
        # with it, so its last_seq is no cursor (the device would skip what lies between).
        device.held_cursors, device.held_versions = dict(cursors), dict(versions)
        if not answer["has_more"]:
            return rounds
    raise AssertionError(f"sync did not finish in {max_rounds} rounds")


def _check_answer_order(answer: dict) -> None:
    """Per conversation: changes ascending by version, messages ascending by seq,
    changes before messages, and a conversation cut inside its changes has no messages."""
    by_conversation: dict[int, list[tuple[str, dict]]] = {}
    for kind in ("changes", "messages"):
        for message in answer[kind]:
            by_conversation.setdefault(message["conversation_id"], []).append((kind, message))
    for cid, items in by_conversation.items():
        versions = [m["version"] for kind, m in items if kind == "changes"]
        seqs = [m["seq"] for kind, m in items if kind == "messages"]
        assert versions == sorted(versions) and len(set(versions)) == len(versions), (cid, versions)
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), (cid, seqs)


ConversationsPage = Callable[[str | None], tuple[list[dict], str | None]]  # cursor -> (page, next cursor)
HistoryPage = Callable[[int, int], tuple[list[dict], bool]]  # (conversation, after seq) -> (page, has_more)


def fresh_state(user_id: int, conversations_page: ConversationsPage, history_page: HistoryPage) -> DeviceState:
    """What a device that starts now fetches: every conversation, and the whole history of each
    (the tests' histories are short), through whichever API the two callables use."""
    state = DeviceState(user_id)
    cursor = None
    while True:
        page, cursor = conversations_page(cursor)
        state.conversations.update({c["id"]: c for c in page})
        if cursor is None:
            break
    for cid in state.conversations:
        held: dict[int, dict] = {}
        after = 0
        while True:
            messages, more = history_page(cid, after)
            held.update({m["seq"]: m for m in messages})
            if not more:
                break
            after = messages[-1]["seq"]
        state.messages[cid] = held
    return state


def deliver(device: DeviceState, received: Iterable[tuple[str, dict]]) -> None:
    for name, payload in received:
        device.apply(name, payload)


# ---------------------------------------------------------------- the schemas


def event_key(name: str) -> str:
    """The AsyncAPI message key of an event name (chatapp/contract/generate.py)."""
    return "".join(ch if ch.isalnum() else "_" for ch in name)


@functools.cache
def _registry() -> Registry:
    resources = []
    for name in ("openapi", "asyncapi"):
        document = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
        resources.append((f"urn:chat:{name}", Resource(contents=document, specification=DRAFT202012)))
    return Registry().with_resources(resources)


@functools.cache
def _validator(document: str, pointer: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"urn:chat:{document}{pointer}"}, registry=_registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def conforms(document: str, pointer: str, value: Any, what: str) -> None:
    """``value`` is valid against the schema at ``pointer`` of a generated document."""
    errors = sorted(_validator(document, pointer).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message:.200}" for e in errors[:5])
        raise AssertionError(f"{what} does not conform to {document}.json {pointer}: {details}")
