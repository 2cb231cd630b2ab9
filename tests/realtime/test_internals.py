"""python-socketio / python-engineio internals borrowed by chatapp/realtime: an
upgrade that moves them fails here, in CI, not silently in production."""

from __future__ import annotations

import ast
import inspect
import logging
import pathlib

import engineio.socket
import pytest
import socketio

from chatapp.realtime import guard, internals, managers, sessionids


def test_the_installed_libraries_are_the_versions_the_overrides_were_written_for() -> None:
    assert internals.check() == []


def test_the_engineio_message_handler_is_the_socketio_method_hooked_server_replaces() -> None:
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
    (engineio.socket.Socket._websocket_handler, "ws.send(pkt.encode())",
     "internals.CoalescingSocket.poll: the websocket writer sends what poll() returns, encoded, through ws.send"),
    (engineio.Server._handle_connect, "socket.Socket(self, sid)",
     "internals.coalesce_websocket_writes: sockets are built from the module's Socket at connect"),
    (engineio.socket.Socket.receive, "_trigger_event('message', self.sid",
     "internals.ReaderEndsOnClosedSocket._trigger_event: a message names its socket first"),
    (socketio.Server._handle_eio_message, "_binary_packet",
     "internals.HookedServer.drop_attachments: attachments are buffered per eio sid there"),
    (socketio.PubSubManager._thread, "isinstance(message, dict)",
     "internals.HookedRedisManager._listen: yielding decoded dicts (a split batch) is accepted"),
    (socketio.PubSubManager._thread, "data.get('host_id') != self.host_id",
     "internals.HookedRedisManager.publish_many: a split message keeps its sender's host_id (skip your own)"),
    (socketio.PubSubManager._thread, "self._handle_close_room(data)",
     "internals.HookedRedisManager._handle_close_room: close_room messages reach it"),
    (socketio.PubSubManager.emit, "self._publish(",
     "internals.HookedRedisManager._publish: every cross-worker emit goes through it (batching)"),
    (socketio.RedisManager._redis_connect, "self.connected = True",
     "internals.HookedRedisManager.redis_client: _redis_connect leaves a connected client in self.redis"),
    (socketio.base_manager.BaseManager.basic_disconnect, "self.basic_leave_room(sid, namespace, room)",
     "managers.ChatRedisManager.basic_leave_room: a disconnect leaves every room through it (route table)"),
    (socketio.base_manager.BaseManager.basic_close_room, "self.basic_leave_room(sid, namespace, room)",
     "managers.ChatRedisManager.basic_leave_room: a closed room is left through it (route table)"),
    (socketio.Manager.enter_room, "self.basic_enter_room(",
     "managers.ChatRedisManager.basic_enter_room: every local enter goes through it (route table)"),
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


def test_the_overrides_keep_their_hooks_once_installed_on_the_flask_socketio_server() -> None:
    server = socketio.Server(async_mode="threading")
    guard.install(server)
    assert isinstance(server, internals.HookedServer) and isinstance(server, guard.ChatServer)
    assert isinstance(server.eio, internals.ReaderEndsOnClosedSocket)
    assert server.eio.handlers["message"] == server._handle_eio_message


@pytest.mark.parametrize("module", [guard, managers, sessionids], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_only_internals_names_a_private_attribute_of_the_libraries(module) -> None:
    """guard, managers and sessionids implement hooks; the private names they stand in for live in internals."""
    borrowed = {attribute for _, attribute, _ in internals.BORROWED}
    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert not (used | defined) & borrowed, f"{module.__name__} reaches past internals.py"
