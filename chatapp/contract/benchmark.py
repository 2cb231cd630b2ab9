"""The micro-benchmark that chose the library: ``python -m chatapp.contract.benchmark``.

Two costs on the send path, per call: building the Message object and encoding
it to JSON (every ``message:new`` and every ack), and validating a
``message:send`` payload (a dict from the socket's JSON parser) into a typed
request. Compared: the hand-written dict + orjson of before, msgspec Structs,
pydantic v2 models. Figures are in docs/performance.md ("The contract library").
"""

from __future__ import annotations

import importlib
import timeit
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import orjson

# pydantic is not a dependency: measured only where installed. Imported by name so
# that mypy's verdict does not depend on whether this machine happens to have it.
pydantic: Any
try:
    pydantic = importlib.import_module("pydantic")
except ImportError:  # pragma: no cover
    pydantic = None

NOW = datetime(2026, 12, 1, 9, 40, 0, 123000, tzinfo=UTC)
STAMP = NOW.isoformat(timespec="milliseconds").replace("+00:00", "Z")
BODY = "hello there, how are you?"
CLIENT_ID = "3f1e0c2a-8b8e-4a57-9d61-2f3c7e9b1a00"
SEND: dict[str, Any] = {"conversation_id": 12, "body": BODY, "client_id": CLIENT_ID}


class MsMessage(msgspec.Struct):
    id: int
    conversation_id: int
    seq: int
    sender_id: int
    body: str
    client_id: str
    created_at: str
    edited_at: str | None
    deleted: bool
    reactions: dict[str, list[int]]
    version: int


class MsSend(msgspec.Struct, forbid_unknown_fields=False):
    conversation_id: Annotated[int, msgspec.Meta(ge=1)]
    body: Annotated[str, msgspec.Meta(max_length=4000)]
    client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


def _dict_message() -> bytes:
    return orjson.dumps({
        "id": 1, "conversation_id": 12, "seq": 7, "sender_id": 3, "body": BODY,
        "client_id": CLIENT_ID, "created_at": STAMP, "edited_at": None, "deleted": False,
        "reactions": {}, "version": 9,
    })


def _msgspec_message() -> bytes:
    message = MsMessage(1, 12, 7, 3, BODY, CLIENT_ID, STAMP, None, False, {}, 9)
    return orjson.dumps(msgspec.to_builtins(message))


def _msgspec_message_native() -> bytes:
    message = MsMessage(1, 12, 7, 3, BODY, CLIENT_ID, STAMP, None, False, {}, 9)
    return msgspec.json.encode(message)


def _dict_send() -> Any:
    # What validation.py does today for the three fields (type checks only).
    data = SEND
    cid, body, key = data.get("conversation_id"), data.get("body"), data.get("client_id")
    if not isinstance(cid, int) or isinstance(cid, bool) or not isinstance(body, str) or not isinstance(key, str):
        raise ValueError
    return cid, body, key


def _msgspec_send() -> Any:
    return msgspec.convert(SEND, MsSend, strict=True)


def run(number: int = 100_000) -> dict[str, float]:
    cases: dict[str, Any] = {
        "message: dict + orjson": _dict_message,
        "message: msgspec Struct + to_builtins + orjson": _msgspec_message,
        "message: msgspec Struct + msgspec.json": _msgspec_message_native,
        "send: hand-written type checks": _dict_send,
        "send: msgspec.convert": _msgspec_send,
    }
    if pydantic is not None:
        class PdMessage(pydantic.BaseModel):
            id: int
            conversation_id: int
            seq: int
            sender_id: int
            body: str
            client_id: str
            created_at: str
            edited_at: str | None
            deleted: bool
            reactions: dict[str, list[int]]
            version: int

        class PdSend(pydantic.BaseModel):
            model_config = pydantic.ConfigDict(strict=True)
            conversation_id: Annotated[int, pydantic.Field(ge=1)]
            body: Annotated[str, pydantic.Field(max_length=4000)]
            client_id: Annotated[str, pydantic.Field(min_length=1, max_length=64)]

        def _pd_message() -> bytes:
            encoded: bytes = PdMessage.model_construct(
                id=1, conversation_id=12, seq=7, sender_id=3, body=BODY, client_id=CLIENT_ID,
                created_at=STAMP, edited_at=None, deleted=False, reactions={}, version=9,
            ).model_dump_json().encode()
            return encoded

        def _pd_message_validated() -> bytes:
            encoded: bytes = PdMessage(
                id=1, conversation_id=12, seq=7, sender_id=3, body=BODY, client_id=CLIENT_ID,
                created_at=STAMP, edited_at=None, deleted=False, reactions={}, version=9,
            ).model_dump_json().encode()
            return encoded

        cases["message: pydantic model_construct + model_dump_json"] = _pd_message
        cases["message: pydantic validated + model_dump_json"] = _pd_message_validated
        cases["send: pydantic model_validate (strict)"] = lambda: PdSend.model_validate(SEND)
    results = {}
    for name, fn in cases.items():
        best = min(timeit.repeat(fn, number=number, repeat=5))
        results[name] = best / number * 1e6
    return results


if __name__ == "__main__":
    for label, micros in run().items():
        print(f"{micros:7.3f} µs  {label}")
