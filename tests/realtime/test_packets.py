"""The server's Socket.IO packets are JSON only (chatapp/realtime/packets.py)."""

from __future__ import annotations

import pytest
import socketio

from chatapp.extensions import socketio as flask_socketio
from chatapp.realtime.packets import JsonPacket


def test_the_server_builds_its_packets_with_the_json_only_class(app):
    assert flask_socketio.server.packet_class is JsonPacket


def test_an_event_and_an_ack_encode_as_plain_text_packets():
    event = JsonPacket(socketio.packet.EVENT, data=["message:new", {"message": {"id": 1, "body": "hé"}}],
                       namespace="/chat")
    ack = JsonPacket(socketio.packet.ACK, data=[{"ok": True}], namespace="/chat", id=7)
    assert event.encode() == '2/chat,["message:new",{"message":{"id":1,"body":"hé"}}]'
    assert ack.encode() == '3/chat,7[{"ok":true}]'


def test_bytes_in_a_payload_fail_to_encode_instead_of_becoming_an_attachment():
    """No event of the contract carries binary; the payload is not scanned for it."""
    packet = JsonPacket(socketio.packet.EVENT, data=["x", {"raw": b"\x00"}], namespace="/chat")
    assert packet.packet_type == socketio.packet.EVENT
    with pytest.raises(TypeError):
        packet.encode()


def test_an_incoming_packet_still_decodes():
    packet = JsonPacket(encoded_packet='2/chat,5["message:send",{"conversation_id":1}]')
    assert (packet.packet_type, packet.namespace, packet.id) == (socketio.packet.EVENT, "/chat", 5)
    assert packet.data == ["message:send", {"conversation_id": 1}]
