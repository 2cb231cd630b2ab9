"""The /chat namespace: thin, ack-based handlers.

Each handler parses the payload, calls one service, and returns the ack.
Domain errors become ``{ok: false, error}`` here, in one place.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast

from flask import current_app, request
from flask_socketio import Namespace
from socketio.exceptions import ConnectionRefusedError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import metrics
from ..contract import events as contract
from ..contract.objects import UNSET, as_dict
from ..contract.parse import parse
from ..extensions import db
from ..models import User
from ..services import accounts, messaging, presence, receipts, typing_indicator
from ..services import sync as catch_up
from ..services.errors import ChatError, RateLimited, Unauthorized, Unavailable, ValidationError, database_busy
from ..services.validation import MISSING, require_object
from . import NAMESPACE
from .connection import authenticate
from .tasks import Tasks

log = logging.getLogger(__name__)

Handler = Callable[[User, dict[str, Any]], dict[str, Any]]


def current_sid() -> str:
    """The sid of the socket whose event is being handled."""
    # Flask-SocketIO sets it on each event's request; Flask's Request type does not declare it.
    sid: str = request.sid  # type: ignore[attr-defined]
    return sid


class ChatNamespace(Namespace):
    def __init__(self, tasks: Tasks) -> None:
        super().__init__(NAMESPACE)
        self.tasks = tasks
        # Sends being processed by this worker now (green threads or threads).
        self._sends_in_flight = 0
        self._admission = threading.Lock()
        self.routes: dict[str, Handler] = {
            "message:send": self.send,
            "message:edit": self.edit,
            "message:delete": self.delete,
            "message:react": self.react,
            "message:unreact": self.unreact,
            "typing": self.typing,
            "read": self.read,
            "delivered": self.delivered,
            "sync": self.sync,
        }

    # ------------------------------------------------------------ lifecycle

    def on_connect(self, auth: object = None) -> None:
        try:
            self._accept(auth)
        except (OperationalError, DBAPIError):
            db.session.rollback()
            self._refuse(Unavailable("the database is unavailable, retry later"))
        except PoolTimeout:
            db.session.rollback()
            self._refuse(database_busy())
        except ChatError as exc:
            db.session.rollback()
            self._refuse(exc)

    def _accept(self, auth: object) -> None:
        principal = authenticate(auth)
        user = principal.user
        if presence.connection_count(user.id) >= accounts.max_connections():
            raise RateLimited("too many connections for this user", retry_after=5)
        sid = current_sid()
        self.socketio.server.save_session(sid, {"user_id": user.id, "token_id": principal.token_id}, NAMESPACE)
        self.enter_room(sid, accounts.user_room(user.id))
        self.enter_room(sid, accounts.token_room(principal.token_id))
        # The snapshot after joining the rooms (and, with Redis, after this worker
        # is in their route table): an event committed later reaches this socket,
        # one committed earlier is in the snapshot (chatapp/realtime/routing.py).
        positions, total = receipts.ready_positions(user)
        presence.connect(user, sid)
        metrics.CONNECTED_SOCKETS.inc()
        ready = as_dict(contract.Ready(user=presence.user_object(user), conversations=positions, total_unread=total))
        # Every attribute is loaded now; detach it so later events can use it without a query.
        db.session.expunge(user)
        self.socketio.server.get_session(sid, NAMESPACE)["user"] = user
        self.tasks.connected(sid, user.id)
        self.tasks.ensure_heartbeat()
        self.tasks.emit_when_connected(sid, "ready", ready)

    @staticmethod
    def _refuse(exc: ChatError) -> None:
        metrics.REFUSED_CONNECTIONS.labels(exc.code).inc()
        # The envelope's fields as data: a JS client reads err.data.code.
        raise ConnectionRefusedError(exc.message, exc.envelope()["error"]) from None

    def on_disconnect(self, reason: object = None) -> None:
        session = self._session()
        if session is None:
            return
        metrics.CONNECTED_SOCKETS.dec()
        self.tasks.disconnected(current_sid())
        if presence.disconnect(session["user_id"], current_sid()):
            self.tasks.settle_offline_later(session["user_id"])

    # ------------------------------------------------------------ dispatch

    def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return super().trigger_event(event, *args)
        # Names are strings (realtime/guard.py refuses other shapes); check anyway, cheaply.
        handler = self.routes.get(event) if isinstance(event, str) else None
        metrics.EVENTS_IN.labels(event if handler is not None else "unknown").inc()
        sid, payload = args[0], args[1:]
        # An app context, not Flask-SocketIO's full request context: events need
        # the database session, not a request object or the cookie session
        # (the user was authenticated at connect). This is the hot path.
        with self.tasks.app.app_context():
            if handler is None:
                return {"ok": False, **ValidationError(f"unknown event {event!r:.60}").envelope()}
            return self._run(handler, event, sid, payload)

    def _session(self, sid: str | None = None) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.socketio.server.get_session(sid or current_sid(), NAMESPACE))
        except KeyError:
            return None

    def _run(self, handler: Handler, event: str, sid: str, payload: tuple[Any, ...]) -> dict[str, Any]:
        try:
            session = self._session(sid)
            # The user loaded at connect, kept detached in the socket's session:
            # no query per event. A deactivated user's sockets are closed anyway.
            user = session.get("user") if session else None
            if user is None:
                raise Unauthorized("not authenticated")
            data = require_object(payload[0] if payload else None)
            return {"ok": True, **handler(user, data)}
        except ChatError as exc:
            db.session.rollback()
            return {"ok": False, **exc.envelope()}
        except (OperationalError, DBAPIError):
            db.session.rollback()
            log.warning("database unavailable during %s", event)
            return {"ok": False, **Unavailable("the database is unavailable, retry later").envelope()}
        except PoolTimeout:
            db.session.rollback()
            return {"ok": False, **database_busy().envelope()}
        except Exception:
            db.session.rollback()
            log.exception("unexpected error in %s", event)
            return {"ok": False, "error": {"code": "internal", "message": "internal error"}}

    # ------------------------------------------------------------ events

    def send(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        # Admission control: above capacity, sends would queue on the database
        # without bound (memory, then latency for everyone). Refuse the excess
        # at once with a retryable error and count it.
        with self._admission:
            admitted = self._sends_in_flight < current_app.config["MAX_SENDS_IN_FLIGHT"]
            if admitted:
                self._sends_in_flight += 1
        if not admitted:
            metrics.SHED.labels("sends_in_flight").inc()
            raise Unavailable("the server is busy, retry shortly", retry_after=1)
        try:
            return self._send(user, data)
        finally:
            with self._admission:
                self._sends_in_flight -= 1

    def _send(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        send = parse(contract.SendPayload, data)
        message, _created = messaging.send_message(
            user, send.conversation_id, send.body, send.client_id,
            reply_to=None if send.reply_to is UNSET else send.reply_to,
            attachments=None if send.attachments is UNSET else send.attachments,
        )
        metrics.SEND_LATENCY.observe(time.perf_counter() - started)
        return {"message": message}

    # Each handler checks its payload's shape and types against the contract
    # (chatapp/contract/events.py, answering validation_error with fields);
    # the services then apply the rules that need more than a type.

    def edit(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        edit = parse(contract.EditPayload, data)
        return {"message": messaging.edit_message(user, edit.message_id, edit.body)}

    def delete(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        messaging.delete_message(user, parse(contract.MessageIdPayload, data).message_id)
        return {}

    def react(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        reaction = parse(contract.ReactPayload, data)
        return {"message": messaging.react(user, reaction.message_id, reaction.emoji, add=True)}

    def unreact(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        reaction = parse(contract.ReactPayload, data)
        return {"message": messaging.react(user, reaction.message_id, reaction.emoji, add=False)}

    def typing(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        typed = parse(contract.TypingPayload, data)
        typing_indicator.set_typing(user, typed.conversation_id, typed.typing)
        return {}

    def read(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        position = parse(contract.SeqPayload, data)
        result = receipts.mark_read(user, position.conversation_id, position.seq)
        return {"last_read_seq": result["last_read_seq"], "unread_count": result["unread_count"]}

    def delivered(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        position = parse(contract.SeqPayload, data)
        result = receipts.mark_delivered(user, position.conversation_id, position.seq)
        return {"delivered_seq": result["delivered_seq"]}

    def sync(self, user: User, data: dict[str, Any]) -> dict[str, Any]:
        request = parse(contract.SyncPayload, data)
        versions = MISSING if request.versions is UNSET else request.versions
        return catch_up.sync(user, request.cursors, None if request.limit is UNSET else request.limit, versions)
