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


# ---------------------------------------------------------------- queued packets in one write


class _Wire:
    """A socket that records each write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(data)


def _websocket(wire: _Wire):
    return eventlet_websocket.RFC6455WebSocket(wire, {}, version=13)


def test_queued_frames_leave_in_one_write_with_the_bytes_of_separate_sends():
    from chatapp.realtime.eventlet_websocket import send_frames
    from chatapp.realtime.internals import Frames

    frames = ['42/chat,["message:new",{"message":{"body":"hé"}}]', '43/chat,1[{"ok":true}]', "x" * 300, b"\x04bin"]
    one_by_one, together = _Wire(), _Wire()
    for frame in frames:
        _websocket(one_by_one).send(frame)
    send_frames(_websocket(together), Frames(frames))
    assert together.writes == [b"".join(one_by_one.writes)]


def test_the_engineio_writer_gets_every_queued_packet_as_one_item_once_upgraded():
    import engineio
    from engineio import packet

    from chatapp.realtime.internals import CoalescingSocket, Frames

    server = engineio.Server(async_mode="threading")
    sock = CoalescingSocket(server, "sid")
    for data in ("first", "second"):
        sock.queue.put(packet.Packet(packet.MESSAGE, data=data))
    sock.upgraded = True
    (batch,) = sock.poll()
    assert batch.encode() == Frames(("4first", "4second"))
    sock.queue.put(packet.Packet(packet.MESSAGE, data="alone"))
    assert [p.encode() for p in sock.poll()] == ["4alone"]  # one packet: as engineio sends it


def test_a_long_polling_socket_gets_its_packets_as_a_list():
    import engineio
    from engineio import packet

    from chatapp.realtime.internals import CoalescingSocket

    sock = CoalescingSocket(engineio.Server(async_mode="threading"), "sid")
    for data in ("first", "second"):
        sock.queue.put(packet.Packet(packet.MESSAGE, data=data))
    assert [p.encode() for p in sock.poll()] == ["4first", "4second"]


def test_releasing_the_request_buffer_closes_the_file_and_keeps_the_socket():
    import socket
    from types import SimpleNamespace

    from chatapp.realtime.eventlet_websocket import release_request_buffer

    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        rfile = server_end.makefile("rb")  # as eventlet's HttpProtocol reads the request
        release_request_buffer({"eventlet.input": SimpleNamespace(rfile=rfile)})
        assert rfile.closed
        server_end.sendall(b"\x81\x00")  # the WebSocket writes (and reads) the socket itself
        assert client_end.recv(2) == b"\x81\x00"
    release_request_buffer({})  # not eventlet's server: nothing to release
