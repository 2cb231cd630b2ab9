"""python-socketio / python-engineio internals borrowed by chatapp/realtime: an
upgrade that moves them fails here, in CI, not silently in production."""

from __future__ import annotations

import inspect
import logging

import engineio.socket
import pytest
import socketio

from chatapp.realtime import internals


def test_the_installed_libraries_are_the_versions_the_overrides_were_written_for() -> None:
    assert internals.check() == []


def test_the_engineio_message_handler_is_the_socketio_method_guard_replaces() -> None:
    server = socketio.Server(async_mode="threading")
    assert server.eio.handlers["message"] == server._handle_eio_message


def test_session_ids_come_from_generate_id() -> None:
    server = socketio.Server(async_mode="threading")
    server.eio.generate_id = lambda: "w9.fixed"
    assert server.eio.generate_id() == "w9.fixed"
    assert "self.generate_id()" in inspect.getsource(type(server.eio)._handle_connect)


# What each override relies on, in the library's own code: (function, the text
# it must still contain, why). A failure names the override to re-read.
RELIED_ON = [
    (engineio.socket.Socket.receive, "_trigger_event('message', self.sid",
     "guard.ChatEngineIOServer._trigger_event: a message names its socket first"),
    (socketio.Server._handle_eio_message, "_binary_packet",
     "guard.ChatServer._refuse: attachments are buffered per eio sid there"),
    (socketio.PubSubManager._thread, "isinstance(message, dict)",
     "managers.ChatRedisManager._listen: yielding decoded dicts (a split batch) is accepted"),
    (socketio.PubSubManager._thread, "data.get('host_id') != self.host_id",
     "managers: each split message keeps its sender's host_id, so a worker skips its own"),
    (socketio.PubSubManager._thread, "self._handle_close_room(data)",
     "managers.ChatRedisManager._handle_close_room: close_room messages reach it"),
    (socketio.PubSubManager.emit, "self._publish(",
     "managers.ChatRedisManager.batch: every cross-worker emit goes through _publish"),
    (socketio.RedisManager._listen, "self._redis_listen_with_retries()",
     "managers: the resync on a restored subscription sees every message"),
    (socketio.RedisManager._listen, "message['type'] == 'message'",
     "managers._redis_connect: the subscribe confirmations it keeps are filtered out here"),
]


@pytest.mark.parametrize(("function", "text", "why"), RELIED_ON, ids=[why.split(":")[0] for _, _, why in RELIED_ON])
def test_the_library_code_each_override_relies_on_is_unchanged(function, text, why) -> None:
    assert text in inspect.getsource(function), why


def test_a_library_the_overrides_were_not_written_for_is_named_in_the_log(monkeypatch, caplog) -> None:
    monkeypatch.setitem(internals.WRITTEN_FOR, "python-socketio", "0.0.1")
    internals.warn_if_changed(logging.getLogger("chatapp.realtime.guard"))
    assert "python-socketio internals: python-socketio 5.18.1 installed, the overrides were written for 0.0.1" in (
        caplog.text
    )
