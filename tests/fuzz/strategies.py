"""Hypothesis strategies for hostile payloads: any JSON, and JSON shaped like
each event's payload with every field replaced by something surprising."""

from __future__ import annotations

import json

from hypothesis import strategies as st

ERROR_CODES = {
    "unauthorized", "forbidden", "not_found", "validation_error", "conflict", "payload_too_large", "rate_limited",
    "unavailable",
}
EVENTS = ["message:send", "message:edit", "message:delete", "message:react", "message:unreact", "typing", "read",
          "delivered", "sync"]

# Text the databases refuse or readers cannot see (issue 11, class 1): NUL, lone
# surrogates (sent as the JSON escape "\ud800"), zero-width and other invisible
# characters, alone or inside ordinary text; and long strings (at most ~8 KB as
# escaped JSON each, so that a payload of several stays under the 64 KiB limit,
# past which Engine.IO closes the connection by design).
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u3164\u2800\u180e\U000e0001\u202e\u00a0\u3000"
hostile_text = st.one_of(
    st.sampled_from(["\u0000", "a\u0000b", "\ud800", "x\udfff", "\udc00\udbff", "\u200b\u2060\ufeff", " \u200b ",
                     "\u3164", "\ufe0f", "a" * 4001, "é" * 1400, "💥" * 700, "x" * 8000]),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Cf", "Zs", "Zl", "Zp"]), min_size=1, max_size=8),
    st.text(alphabet=st.sampled_from(INVISIBLE), min_size=1, max_size=8),
    st.tuples(st.text(max_size=8), st.sampled_from(["\u0000", "\ud800", "\udfff", "\u200b"]), st.text(max_size=8))
    .map("".join),
)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**64), 10**30]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.5, 1e308, -0.0, -1.5]),
    st.text(max_size=40),
    st.sampled_from(["", " ", "1", "-1", "0x10", "１２", "null", "\u0000", "a" * 5000, "💥" * 10]),
    hostile_text,
)
any_json = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# A value for a field: usually plausible, often hostile.
ids = st.one_of(st.integers(min_value=1, max_value=8), any_json)
FIELDS = {
    "conversation_id": ids, "message_id": ids, "seq": st.one_of(st.integers(-3, 50), any_json),
    "body": st.one_of(st.text(max_size=60), st.just(" " * 10), st.just("x" * 4001), hostile_text, any_json),
    "client_id": st.one_of(st.uuids().map(str), st.just("x" * 65), hostile_text, any_json),
    "typing": st.one_of(st.booleans(), any_json),
    "emoji": st.one_of(st.sampled_from(["👍", "+1", "a b", ""]), hostile_text, any_json),
    "cursors": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["1", "2", "999999999999999999999", "-1", "x"]),
                                                   st.text(max_size=5)), ids, max_size=4), any_json),
    "versions": st.one_of(st.dictionaries(st.sampled_from(["1", "2", "x", "-1"]), ids, max_size=4), any_json),
    "limit": st.one_of(st.integers(-5, 2000), any_json),
}


@st.composite
def shaped_payload(draw) -> dict:
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=5, unique=True))
    payload = {name: draw(FIELDS[name]) for name in names}
    if draw(st.booleans()):
        payload.update(draw(st.dictionaries(st.text(max_size=8), any_json, max_size=2)))
    return payload


# The fields each event reads: a complete, plausible payload is the starting point
# that one or two mutations turn into an edge case deep inside the service.
EVENT_FIELDS = {
    "message:send": ("conversation_id", "body", "client_id"), "message:edit": ("message_id", "body"),
    "message:delete": ("message_id",), "message:react": ("message_id", "emoji"),
    "message:unreact": ("message_id", "emoji"), "typing": ("conversation_id", "typing"),
    "read": ("conversation_id", "seq"), "delivered": ("conversation_id", "seq"),
    "sync": ("cursors", "versions", "limit"),
}
PLAUSIBLE = {
    "conversation_id": st.integers(1, 4), "message_id": st.integers(1, 30), "seq": st.integers(0, 40),
    "body": st.text(min_size=1, max_size=30), "client_id": st.uuids().map(str), "typing": st.booleans(),
    "emoji": st.sampled_from(["👍", "+1", "🎉"]), "limit": st.integers(1, 50),
    "cursors": st.dictionaries(st.sampled_from(["1", "2", "3", "4"]), st.integers(0, 20), max_size=4),
    "versions": st.dictionaries(st.sampled_from(["1", "2", "3", "4"]), st.integers(0, 20), max_size=4),
}


@st.composite
def event_and_payload(draw) -> tuple[str, object]:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # anything at all
        return draw(event_names), draw(st.one_of(shaped_payload(), any_json))
    event = draw(st.sampled_from(EVENTS))
    payload = {name: draw(PLAUSIBLE[name]) for name in EVENT_FIELDS[event]}
    for _ in range(draw(st.integers(0, 2)) if kind < 3 else 0):
        name = draw(st.sampled_from(sorted(FIELDS)))
        if draw(st.booleans()) and name in payload:
            del payload[name]
        else:
            payload[name] = draw(FIELDS[name])
    return event, payload


socket_payloads = st.one_of(shaped_payload(), shaped_payload(), any_json)
event_names = st.one_of(st.sampled_from(EVENTS), st.sampled_from(EVENTS), st.text(max_size=20),
                        st.sampled_from(["connect", "disconnect", "ready", "message", "error", "", "x" * 300]))


def assert_is_ack(ack: object) -> None:
    """Every answer is {ok: true, ...} or {ok: false, error: {code, message}} with a contract code."""
    assert isinstance(ack, dict), ack
    if ack.get("ok") is True:
        return
    assert ack.get("ok") is False, ack
    error = ack["error"]
    assert error["code"] in ERROR_CODES, ack
    assert isinstance(error["message"], str)
    if error["code"] == "rate_limited":
        assert isinstance(error["retry_after"], int) and error["retry_after"] >= 1


# JSON text no Python object can stand for, or that json.dumps would refuse to
# write (issue 11, class 2 and duplicate keys): a value nested n levels deep
# (1 to 3,000, the policy allows 32), and objects naming a key twice.
@st.composite
def hostile_json_text(draw, fields: dict | None = None) -> str:
    """The text of a JSON object: plausible ``fields`` with one textual mutation."""
    members = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in (fields or {}).items()]
    kind = draw(st.sampled_from(["deep", "duplicate", "hostile-string"]))
    key = draw(st.sampled_from(sorted(fields) if fields else ["body"]))
    if kind == "deep":
        levels = draw(st.one_of(st.integers(1, 40), st.integers(1, 3000), st.sampled_from([32, 33, 1024, 1025])))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        members.append(f"{json.dumps(key)}: {opener * levels}1{closer * levels}")
    elif kind == "duplicate":
        members.append(f"{json.dumps(key)}: {json.dumps(draw(st.one_of(hostile_text, any_json)))}")
        if draw(st.booleans()):
            members.reverse()  # the hostile copy first, the plausible one last
    else:
        members.append(f"{json.dumps(key)}: {json.dumps(draw(hostile_text))}")  # "\ud800" stays an escape
    return "{" + ", ".join(members) + "}"
