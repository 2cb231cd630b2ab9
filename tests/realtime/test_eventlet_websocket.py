"""The C-speed WebSocket unmasking gives exactly eventlet's bytes (RFC 6455 5.3),
for every length, mask, offset into a frame read in pieces, and input type."""

from __future__ import annotations

import os

import pytest

from chatapp.realtime.eventlet_websocket import apply_mask

eventlet_websocket = pytest.importorskip("eventlet.websocket")


def reference(data: bytes, mask: bytes, length: int | None = None, offset: int = 0) -> bytes:
    """RFC 6455: octet i of the payload XOR octet (i mod 4) of the masking key."""
    length = len(data) if length is None else length
    return bytes(data[i] ^ mask[(offset + i) % 4] for i in range(length))


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 7, 8, 125, 126, 1000, 65536 + 3])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 9])
def test_unmasking_matches_the_rfc_for_every_length_and_offset(length, offset):
    data, mask = os.urandom(length + 5), os.urandom(4)
    assert apply_mask(data, mask, length, offset) == reference(data, mask, length, offset)
    assert apply_mask(data[:length], mask, offset=offset) == reference(data[:length], mask, offset=offset)


def test_masking_twice_gives_the_frame_back_and_zero_bytes_show_the_key():
    data, mask = os.urandom(300), os.urandom(4)
    assert apply_mask(apply_mask(data, mask), mask) == data
    assert apply_mask(bytes(8), mask) == mask * 2


def test_it_takes_what_eventlet_passes():
    data, mask = os.urandom(50), os.urandom(4)
    expected = reference(data, mask)
    assert apply_mask(bytearray(data), list(mask)) == expected
    assert apply_mask(memoryview(data), bytearray(mask)) == expected


def test_install_replaces_eventlets_method(monkeypatch):
    from chatapp.realtime import eventlet_websocket as ours

    websocket = eventlet_websocket.RFC6455WebSocket
    monkeypatch.setattr(websocket, "_apply_mask", websocket.__dict__["_apply_mask"])  # restored afterwards
    ours.install()
    data, mask = os.urandom(20), os.urandom(4)
    assert websocket.__dict__["_apply_mask"].__func__ is apply_mask
    assert websocket._apply_mask(data, mask) == reference(data, mask)
