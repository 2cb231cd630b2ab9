"""python-socketio / python-engineio internals borrowed by chatapp/realtime: an
upgrade that moves them fails here, in CI, not silently in production."""

from __future__ import annotations

import inspect

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
