"""A payload per room in one call (``emit_each``, chatapp/realtime/managers.py).

A room message's ``unread`` badges (one per member, each with their own counts)
go out through ``ChatManager.emit_each`` instead of one ``Server.emit`` each.
What the sockets receive must be what the emits would have sent: the same
packets, in the same order, to the same sockets.
"""

from __future__ import annotations

import itertools

import pytest
import socketio

from chatapp import jsonmodule
from chatapp.realtime import NAMESPACE
from chatapp.realtime.managers import ChatManager
from chatapp.realtime.packets import JsonPacket


@pytest.fixture
def server(monkeypatch) -> socketio.Server:
    """A single-process server with no client behind its sockets: every packet it sends is recorded."""
    srv = socketio.Server(async_mode="threading", client_manager=ChatManager(), serializer=JsonPacket,
                          json=jsonmodule)
    srv.manager_initialized = True
    srv.manager.initialize()
    srv.sent = []
    monkeypatch.setattr(srv.eio, "send_packet", lambda eio_sid, pkt: srv.sent.append((eio_sid, pkt.encode())))
    return srv


_EIO_SIDS = (f"eio-{n}" for n in itertools.count())


def socket_in(server: socketio.Server, *rooms: str) -> str:
    """A socket of this worker in ``rooms``; its Engine.IO sid."""
    eio_sid = next(_EIO_SIDS)
    sid = server.manager.connect(eio_sid, NAMESPACE)
    for room in rooms:
        server.manager.enter_room(sid, NAMESPACE, room)
    return eio_sid


@pytest.mark.parametrize("namespace", ["/", "/chat"])
@pytest.mark.parametrize("payload", [{"conversation_id": 1, "unread_count": 2}, {"body": "hé \u2028 \"q\""}, [1, None]])
def test_event_text_is_the_packet_the_class_encodes(namespace, payload):
    JsonPacket.json = jsonmodule
    packet = JsonPacket(socketio.packet.EVENT, namespace=namespace, data=["unread", payload])
    assert JsonPacket.event_text(namespace, "unread", payload) == packet.encode()


def test_each_room_gets_its_own_payload_as_an_emit_to_it_would_send(server):
    phone, laptop = socket_in(server, "user:1"), socket_in(server, "user:1")
    other = socket_in(server, "user:2")
    badges = [("user:1", {"unread_count": 1}), ("user:2", {"unread_count": 7})]

    for room, payload in badges:
        server.emit("unread", payload, to=[room], namespace=NAMESPACE)
    one_by_one, server.sent = server.sent, []
    server.manager.emit_each("unread", badges, NAMESPACE)

    assert server.sent == one_by_one
    assert server.sent == [
        (phone, '42/chat,["unread",{"unread_count":1}]'),
        (laptop, '42/chat,["unread",{"unread_count":1}]'),
        (other, '42/chat,["unread",{"unread_count":7}]'),
    ]


def test_a_room_with_no_socket_here_is_skipped(server):
    here = socket_in(server, "user:1")
    server.manager.emit_each("unread", [("user:9", {"n": 9}), ("user:1", {"n": 1})], NAMESPACE)
    assert server.sent == [(here, '42/chat,["unread",{"n":1}]')]


def test_a_namespace_nobody_joined_sends_nothing(server):
    socket_in(server, "user:1")
    server.manager.emit_each("unread", [("user:1", {"n": 1})], "/elsewhere")
    assert server.sent == []
