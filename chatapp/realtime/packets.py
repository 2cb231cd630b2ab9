"""The Socket.IO packet class this server uses: JSON only, no binary scan.

python-socketio walks every outgoing payload, recursively, to find ``bytes``
that would make it a binary packet. Nothing this server sends carries binary
(files go over REST, PROTOCOL.md), and the guard refuses incoming binary
packets (realtime/guard.py), so the walk, a few percent of a send's CPU, finds
nothing every time. A payload with ``bytes`` in it now fails to encode instead
of leaving as an attachment a client of the contract would not expect.
"""

from __future__ import annotations

import socketio


class JsonPacket(socketio.packet.Packet):
    uses_binary_events = False
