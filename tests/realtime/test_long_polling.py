"""Long-polling payloads (internals.LongPollingSocket): a POST carries as many
packets as its byte cap allows, a long-poll answers at most 16 (what
python-engineio's client decodes), and a body that is no payload is refused.

In process, on a threading Engine.IO server; tests/e2e/test_polling_bursts.py
proves the same with real clients and a real server.
"""

from __future__ import annotations

import hashlib
import inspect
import io

import engineio
import pytest
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet

from chatapp.realtime import internals
from chatapp.realtime.internals import POLL_ANSWER_PACKETS, LongPollingSocket, RefusedPayload

CAP = 64 * 1024


class Recorder(engineio.Server):
    """Records what the socket hands to the server, instead of running handlers."""

    def __init__(self) -> None:
        super().__init__(async_mode="threading", max_http_buffer_size=CAP)
        self.received: list[str] = []

    def _trigger_event(self, event, *args, **kwargs):  # noqa: ANN001, ANN202 (engineio's signature)
        if event == "message":
            self.received.append(args[1])
            return None
        return super()._trigger_event(event, *args, **kwargs)


@pytest.fixture
def sock() -> LongPollingSocket:
    server = Recorder()
    socket = LongPollingSocket(server, "sid")
    socket.connected = True
    return socket


def post(sock: LongPollingSocket, body: str | bytes) -> None:
    raw = body.encode() if isinstance(body, str) else body
    sock.handle_post_request({"CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)})


def messages(count: int) -> str:
    return "\x1e".join(f'442/chat,{i}["message:send",{{"n":{i}}}]' for i in range(count))


def test_a_post_of_more_than_sixteen_packets_delivers_every_one_in_order(sock):
    post(sock, messages(40))
    assert sock.server.received == [f'42/chat,{i}["message:send",{{"n":{i}}}]' for i in range(40)]


def test_a_post_may_carry_one_packet_per_sixteen_bytes_of_the_cap(sock):
    limit = CAP // internals.POSTED_BYTES_PER_PACKET
    post(sock, "\x1e".join(["4x"] * limit))
    assert len(sock.server.received) == limit
    with pytest.raises(RefusedPayload):
        post(sock, "\x1e".join(["4x"] * (limit + 1)))
    assert len(sock.server.received) == limit  # nothing of the refused one


@pytest.mark.parametrize("body", [b"\xff\xfe", b"4x\x1e\x1e4y", b"bA"], ids=["not-utf8", "empty-packet", "bad-base64"])
def test_a_body_that_is_no_payload_is_refused_whole(sock, body):
    with pytest.raises(RefusedPayload):
        post(sock, body)
    assert sock.server.received == []


def test_an_empty_post_is_no_packet_at_all(sock):
    post(sock, b"")
    assert sock.server.received == []


def test_a_post_over_the_byte_cap_is_too_long(sock):
    with pytest.raises(eio_exceptions.ContentTooLongError):
        post(sock, "4" + "x" * CAP)


def test_a_long_poll_answers_at_most_sixteen_and_the_rest_on_the_next(sock):
    for i in range(40):
        sock.send(eio_packet.Packet(eio_packet.MESSAGE, f"m{i}"))
    answers = [sock.poll() for _ in range(3)]
    assert [len(a) for a in answers] == [POLL_ANSWER_PACKETS, POLL_ANSWER_PACKETS, 40 - 2 * POLL_ANSWER_PACKETS]
    assert [p.data for a in answers for p in a] == [f"m{i}" for i in range(40)]
    assert POLL_ANSWER_PACKETS == engineio.payload.Payload.max_decode_packets == 16


def test_a_close_behind_a_long_answer_still_ends_the_session(sock):
    for i in range(20):
        sock.send(eio_packet.Packet(eio_packet.MESSAGE, f"m{i}"))
    sock.queue.put(None)  # what close() queues after its CLOSE packet
    assert len(sock.poll()) == POLL_ANSWER_PACKETS
    assert [p.data for p in sock.poll()] == [f"m{i}" for i in range(16, 20)]
    assert sock.poll() == []  # the end: engineio closes the session on an empty answer


def test_an_upgraded_socket_polls_everything_at_once(sock):
    sock.upgraded = True
    for i in range(40):
        sock.send(eio_packet.Packet(eio_packet.MESSAGE, f"m{i}"))
    assert len(sock.poll()) == 40


def test_sockets_are_built_as_long_polling_sockets_once_installed(monkeypatch):
    monkeypatch.setattr(engineio.socket, "Socket", internals.ENGINEIO_SOCKET)  # restored afterwards
    internals.bound_long_polling()
    assert engineio.socket.Socket is LongPollingSocket
    internals.bound_long_polling()  # twice: the same class, and the eventlet mode's sockets are ones already
    assert engineio.socket.Socket is LongPollingSocket
    assert issubclass(internals.CoalescingSocket, LongPollingSocket)


@pytest.mark.parametrize(("function", "digest"), [
    (internals.ENGINEIO_SOCKET.poll, internals.POLL_SHA256),
    (internals.ENGINEIO_SOCKET.handle_post_request, internals.HANDLE_POST_REQUEST_SHA256),
], ids=["poll", "handle_post_request"])  # fmt: skip
def test_the_copied_engineio_code_is_unchanged(function, digest):
    source = inspect.getsource(function)
    assert hashlib.sha256(source.encode()).hexdigest() == digest, (
        f"python-engineio's Socket.{function.__name__} changed: re-read it against LongPollingSocket"
    )
