"""The text rule and the JSON nesting policy as tables (services/validation.py, jsonmodule.py).

The real-server tests (test_hostile_text.py) prove that every input reaches these;
this file says what the rules are.
"""

from __future__ import annotations

import pytest

from chatapp import jsonmodule
from chatapp.services.errors import ValidationError
from chatapp.services.validation import UNSTORABLE, string, text


@pytest.mark.parametrize("value", ["\x00", "a\x00", "\ud800", "x\udfff", "\udc00\ud800", "ok\U0010ffff\ud83d"])
def test_nul_and_lone_surrogates_are_refused_by_string(value):
    with pytest.raises(ValidationError) as refused:
        string(value, "field")
    assert refused.value.extra["fields"] == {"field": UNSTORABLE}


@pytest.mark.parametrize("value", ["plain", "é", "👍", "\U0001f469\u200d\U0001f4bb", "tab\tand\nnewline", "\x01"])
def test_everything_else_is_storable(value):
    assert string(value, "field") == value


@pytest.mark.parametrize("value", [
    "\u200b", "\u200b\u2060\ufeff", " \u200c \u200d ", "\u00ad", "\u3164", "\u2800", "\ufe0f", "\u180e",
    "\U000e0001\U000e0041", "\u202e\u202d", "\u00a0\u3000\u2028", "\u034f", "\x0b\x0c",
])
def test_text_of_invisible_characters_only_is_empty(value):
    with pytest.raises(ValidationError) as refused:
        text(value, "body", max_chars=4000)
    assert refused.value.extra["fields"] == {"body": "must not be empty"}


@pytest.mark.parametrize("value", ["a", "\u200ba", "\u0301", "·", "👍\ufe0f", "\u05d0"])
def test_one_visible_character_is_text(value):
    assert text(value, "body", max_chars=4000) == value.strip()


@pytest.mark.parametrize("depth", [1, 16, jsonmodule.MAX_DEPTH])
def test_nesting_up_to_the_policy_parses(depth):
    assert jsonmodule.loads("[" * depth + "]" * depth) is not None
    assert jsonmodule.loads('{"a":' * depth + "1" + "}" * depth) is not None


@pytest.mark.parametrize("depth", [jsonmodule.MAX_DEPTH + 1, 1024, 1025, 5000, 200_000])
def test_deeper_nesting_is_refused_without_recursion(depth):
    # 1,025+ levels: orjson refuses, the standard library would raise RecursionError.
    with pytest.raises(jsonmodule.TooDeep):
        jsonmodule.loads("[" * depth + "]" * depth)


def test_brackets_inside_strings_do_not_count_as_nesting():
    # More than MAX_DEPTH brackets in the text, all inside a string: shallow, parsed.
    body = "[{" * jsonmodule.MAX_DEPTH
    assert jsonmodule.loads(f'["message:send", {{"body": "{body}"}}]') == ["message:send", {"body": body}]


@pytest.mark.parametrize("kind", [str, bytes, bytearray, memoryview])
def test_the_nesting_policy_holds_for_every_input_type(kind):
    deep = "[" * (jsonmodule.MAX_DEPTH + 1) + "]" * (jsonmodule.MAX_DEPTH + 1)
    shallow = "[" * jsonmodule.MAX_DEPTH + "]" * jsonmodule.MAX_DEPTH
    as_input = (lambda text: text) if kind is str else (lambda text: kind(text.encode()))
    with pytest.raises(jsonmodule.TooDeep):
        jsonmodule.loads(as_input(deep))
    assert jsonmodule.loads(as_input(shallow)) is not None


def test_what_orjson_refuses_is_still_parsed():
    assert jsonmodule.loads('{"big": 123456789012345678901234567890}')["big"] is not None
    assert jsonmodule.loads('"\\ud800"') == "\ud800"  # then refused by string(), with its field
    assert jsonmodule.loads('{"a": 1, "a": 2}') == {"a": 2}  # duplicate keys: the last wins, as in orjson
