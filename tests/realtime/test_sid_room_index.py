"""A socket's rooms from an index (``SidRoomIndex``, chatapp/realtime/internals.py).

python-socketio answers "which rooms hold this socket" by testing every room of
the namespace, on every disconnect. The index must give the same answers and
leave the same room table as python-socketio's own manager, whatever sockets
connect, enter, leave, close and disconnect; and a disconnect must touch only
the disconnecting socket's rooms.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools

import socketio
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio.base_manager import BaseManager

from chatapp.realtime import NAMESPACE
from chatapp.realtime.internals import BASIC_DISCONNECT_SHA256
from chatapp.realtime.managers import ChatManager

_EIO_SIDS = (f"eio-{n}" for n in itertools.count())


def manager_of(manager: BaseManager) -> BaseManager:
    server = socketio.Server(async_mode="threading", client_manager=manager)
    server.manager_initialized = True
    manager.initialize()
    return manager


def room_table(manager: BaseManager, sids: list[str]) -> dict:
    """The room table with each sid replaced by its position (the two managers make different sids)."""
    position = {sid: n for n, sid in enumerate(sids)}

    def name(room: object) -> object:
        return ("sid", position[room]) if room in position else room

    return {ns: {name(room): sorted(position[sid] for sid in members) for room, members in rooms.items()}
            for ns, rooms in manager.rooms.items()}


ROOMS = ["user:1", "user:2", "token:1", "token:2", "conversation:9"]
step = st.one_of(
    st.tuples(st.just("connect"), st.sampled_from([NAMESPACE, "/"])),
    st.tuples(st.just("enter"), st.integers(0, 7), st.sampled_from(ROOMS)),
    st.tuples(st.just("leave"), st.integers(0, 7), st.sampled_from(ROOMS + ["own", None])),
    st.tuples(st.just("close"), st.sampled_from(ROOMS)),
    st.tuples(st.just("disconnect"), st.integers(0, 7)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40))
def test_the_index_answers_as_python_socketio_does_after_any_sequence(steps):
    ours, theirs = manager_of(ChatManager()), manager_of(socketio.Manager())
    sockets: list[tuple[str, str, str]] = []  # (namespace, our sid, their sid)
    for kind, *args in steps:
        if kind == "connect":
            eio_sid = next(_EIO_SIDS)
            sockets.append((args[0], ours.connect(eio_sid, args[0]), theirs.connect(eio_sid, args[0])))
            continue
        if kind == "close":
            for manager in (ours, theirs):
                for namespace in list(manager.rooms):
                    manager.close_room(args[0], namespace)
            continue
        if not sockets:
            continue
        namespace, our_sid, their_sid = sockets[args[0] % len(sockets)]
        outcomes = []
        for manager, sid in ((ours, our_sid), (theirs, their_sid)):
            try:
                if kind == "enter":  # a disconnected socket: KeyError from both
                    manager.enter_room(sid, namespace, args[1])
                elif kind == "leave":
                    manager.leave_room(sid, namespace, sid if args[1] == "own" else args[1])
                else:
                    manager.disconnect(sid, namespace)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]
        for namespace, our_sid, their_sid in sockets:
            assert sorted(map(str, ours.get_rooms(our_sid, namespace))) == sorted(
                str(room).replace(their_sid, our_sid) for room in theirs.get_rooms(their_sid, namespace))
    assert room_table(ours, [s[1] for s in sockets]) == room_table(theirs, [s[2] for s in sockets])
    for namespace, our_sid, _ in sockets:  # the index holds exactly the other rooms that hold the socket
        held = {room for room, members in ours.rooms.get(namespace, {}).items()
                if room not in (None, our_sid) and our_sid in members}
        assert set(ours._entered.get(namespace, {}).get(our_sid, ())) == held


class NoScan(dict):
    """A namespace's room table that fails on any walk over every room."""

    def copy(self):  # python-socketio's disconnect copies the table to walk it
        raise AssertionError("the whole room table was copied")

    def items(self):
        raise AssertionError("every room was tested")


def test_a_disconnect_touches_only_its_own_rooms_however_many_sockets_are_connected():
    manager = manager_of(ChatManager())
    sids = []
    for n in range(1_000):
        sid = manager.connect(next(_EIO_SIDS), NAMESPACE)
        manager.enter_room(sid, NAMESPACE, f"user:{n % 400}")
        manager.enter_room(sid, NAMESPACE, f"token:{n}")
        sids.append(sid)
    manager.rooms[NAMESPACE] = NoScan(manager.rooms[NAMESPACE])

    assert sorted(manager.get_rooms(sids[7], NAMESPACE)) == sorted([sids[7], "user:7", "token:7"])
    manager.disconnect(sids[7], NAMESPACE)
    assert sids[7] not in manager.rooms[NAMESPACE]
    assert "token:7" not in manager.rooms[NAMESPACE]
    assert sorted(manager.rooms[NAMESPACE]["user:7"]) == sorted([sids[407], sids[807]])
    assert manager.get_rooms(sids[7], NAMESPACE) == []


def test_the_copied_disconnect_is_python_socketios_current_one():
    source = inspect.getsource(BaseManager.basic_disconnect)
    assert hashlib.sha256(source.encode()).hexdigest() == BASIC_DISCONNECT_SHA256, (
        "python-socketio's BaseManager.basic_disconnect changed: re-read it against SidRoomIndex.basic_disconnect"
    )
