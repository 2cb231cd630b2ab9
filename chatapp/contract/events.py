"""Every Socket.IO event of the /chat namespace, both directions, with its audience.

Server to client: one ``ServerEvent`` subclass per event name. ``NAME`` is the
event's name on the wire, ``AUDIENCE`` who gets it (it is documented in
docs/events.md and the AsyncAPI document from here). ``services.events.on_commit``
and ``publish_now`` take an instance of one of these: an event the contract
does not define cannot be published.

Client to server: one ``ClientEvent`` per event name, its payload type and the
type of its acknowledgement on success (``{ok: true, ...fields}``); a failure is
``{ok: false, error}`` (objects.Error).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import UNSET, Meta, UnsetType

from . import limits
from .objects import (
    ClientId,
    Conversation,
    ConversationPosition,
    Count,
    ErrorBody,
    Id,
    Message,
    Object,
    Seq,
    User,
    Version,
)

# ---------------------------------------------------------------- server to client


class ServerEvent(Object):
    NAME: ClassVar[str]
    AUDIENCE: ClassVar[str]
    # Sent inside the connecting request (ready) or by a worker to its own
    # sockets (resync) rather than through services.events.
    DIRECT: ClassVar[bool] = False


class Ready(ServerEvent):
    """Right after connecting: who you are and where each conversation stands."""

    NAME = "ready"
    AUDIENCE = "the connecting socket"
    DIRECT = True
    user: User
    conversations: list[ConversationPosition]
    total_unread: Count


class MessageNew(ServerEvent):
    """A message was stored."""

    NAME = "message:new"
    AUDIENCE = "every connected device of every member, the sender's other devices and the sending socket included"
    message: Message


class MessageUpdated(ServerEvent):
    """A message was edited or its reactions changed."""

    NAME = "message:updated"
    AUDIENCE = "every member's devices"
    message: Message


class MessageDeleted(ServerEvent):
    """A message was deleted (it keeps its id and seq)."""

    NAME = "message:deleted"
    AUDIENCE = "every member's devices"
    conversation_id: Id
    message_id: Id
    seq: Seq
    version: Version


class Typing(ServerEvent):
    """Someone started or stopped typing; ``typing: true`` is over after ``expires_in_ms``."""

    NAME = "typing"
    AUDIENCE = "the other members' devices (not the typist's own)"
    conversation_id: Id
    user_id: Id
    typing: bool
    expires_in_ms: Count


class Presence(ServerEvent):
    """A user came online or went offline (offline may wait up to 5 s: a quick reconnect does not flap)."""

    NAME = "presence"
    AUDIENCE = "users who share a conversation with that user"
    user_id: Id
    online: bool
    last_seen_at: Annotated[str | None, Meta(extra_json_schema={"format": "date-time"})]


class Read(ServerEvent):
    """A member's read position moved forward (read receipts)."""

    NAME = "read"
    AUDIENCE = "every member's devices"
    conversation_id: Id
    user_id: Id
    seq: Seq
    version: Version


class Delivered(ServerEvent):
    """v2: a member's device received the conversation's messages up to ``seq``."""

    NAME = "delivered"
    AUDIENCE = "every member's devices"
    conversation_id: Id
    user_id: Id
    seq: Seq
    version: Version


class Unread(ServerEvent):
    """The user's unread counts changed."""

    NAME = "unread"
    AUDIENCE = "the user's own devices"
    conversation_id: Id
    unread_count: Count
    total_unread: Count


class ConversationNew(ServerEvent):
    """A conversation appeared for the user (created, added, joined); with their own counts."""

    NAME = "conversation:new"
    AUDIENCE = "each member's devices, the creator's included"
    conversation: Conversation


class ConversationUpdated(ServerEvent):
    """A conversation changed (name, visibility, posting, members, roles); with the user's own counts."""

    NAME = "conversation:updated"
    AUDIENCE = "each member's devices"
    conversation: Conversation


class MemberJoined(ServerEvent):
    NAME = "member:joined"
    AUDIENCE = "the group's members, the newcomer included"
    conversation_id: Id
    user: User
    version: Version


class MemberLeft(ServerEvent):
    NAME = "member:left"
    AUDIENCE = "the group's members and the member who left or was removed"
    conversation_id: Id
    user: User
    version: Version


class SessionRevoked(ServerEvent):
    """The token this socket was opened with was revoked; the socket is disconnected right after."""

    NAME = "session:revoked"
    AUDIENCE = "the sockets opened with that token (or every socket of a deactivated user)"
    reason: Literal["logout", "password_changed", "deactivated"]
    token_id: Id | UnsetType = UNSET


class Resync(ServerEvent):
    """Events may have been lost (the message queue reconnected): call ``sync``."""

    NAME = "resync"
    AUDIENCE = "every socket of the worker whose message-queue connection came back"
    DIRECT = True
    reason: Literal["message_queue_reconnected"]


SERVER_EVENTS: tuple[type[ServerEvent], ...] = (
    Ready, MessageNew, MessageUpdated, MessageDeleted, Typing, Presence, Read, Delivered, Unread,
    ConversationNew, ConversationUpdated, MemberJoined, MemberLeft, SessionRevoked, Resync,
)
SERVER_EVENT_NAMES: frozenset[str] = frozenset(e.NAME for e in SERVER_EVENTS)

# ---------------------------------------------------------------- client to server

# Lengths of text count after trimming (and the body limit is configurable), so
# they are stated in the schema and enforced by services/validation.py, not here.
Body = Annotated[str, Meta(
    description="1-4000 code points after trimming (CHAT_MAX_BODY_CHARS)",
    extra_json_schema={"minLength": 1, "maxLength": limits.MAX_BODY_CHARS},
)]
Emoji = Annotated[str, Meta(extra_json_schema={"minLength": 1, "maxLength": limits.MAX_EMOJI_CHARS})]
Positions = Annotated[
    dict[str, Seq],
    Meta(max_length=limits.SYNC_MAX_CONVERSATIONS, description="conversation id (decimal string) -> integer >= 0"),
]
Limit = Annotated[int, Meta(ge=1, description="default 500, clamped to 1000; counts messages and changes together")]


class Payload(Object):
    """A client event's payload. Unknown fields are ignored (clients may be newer)."""


class Ack(Object, kw_only=True):
    """A client event's acknowledgement on success: ``{ok: true, ...}``."""

    ok: Literal[True] = True


class Failure(Object):
    ok: Literal[False]
    error: ErrorBody


class SendPayload(Payload):
    conversation_id: Id
    body: Body
    client_id: ClientId


class EditPayload(Payload):
    message_id: Id
    body: Body


class MessageIdPayload(Payload):
    message_id: Id


class ReactPayload(Payload):
    message_id: Id
    emoji: Emoji


class TypingPayload(Payload):
    conversation_id: Id
    typing: bool


class SeqPayload(Payload):
    conversation_id: Id
    seq: Seq


class SyncPayload(Payload):
    cursors: Positions
    versions: Positions | None | UnsetType = UNSET
    limit: Limit | None | UnsetType = UNSET


class MessageAck(Ack):
    message: Message


class EmptyAck(Ack):
    pass


class ReadAck(Ack):
    last_read_seq: Seq
    unread_count: Count


class DeliveredAck(Ack):
    delivered_seq: Seq


class SyncAnswer(Object):
    """What a device missed (socket ``sync`` ack and ``POST /sync``). The v2
    fields are present when the request carried ``versions``."""

    messages: list[Message]
    has_more: bool
    changes: Annotated[
        list[Message], Meta(description="with versions: messages at or below the cursor changed after the version")
    ] | UnsetType = UNSET
    conversations: list[Conversation] | UnsetType = UNSET
    removed: list[Id] | UnsetType = UNSET
    cursors: dict[str, Seq] | UnsetType = UNSET
    versions: dict[str, Version] | UnsetType = UNSET


class SyncAck(Ack):
    messages: list[Message]
    has_more: bool
    changes: list[Message] | UnsetType = UNSET
    conversations: list[Conversation] | UnsetType = UNSET
    removed: list[Id] | UnsetType = UNSET
    cursors: dict[str, Seq] | UnsetType = UNSET
    versions: dict[str, Version] | UnsetType = UNSET


class ClientEvent:
    """A client-to-server event: its name, payload type, ack type and what it does."""

    def __init__(self, name: str, payload: type[Payload], ack: type[Ack], summary: str) -> None:
        self.name = name
        self.payload = payload
        self.ack = ack
        self.summary = summary


CLIENT_EVENTS: tuple[ClientEvent, ...] = (
    ClientEvent("message:send", SendPayload, MessageAck,
                "send; resending the same client_id returns the original, never a second message"),
    ClientEvent("message:edit", EditPayload, MessageAck, "edit (sender only)"),
    ClientEvent("message:delete", MessageIdPayload, EmptyAck, "delete (sender, or a group owner/admin)"),
    ClientEvent("message:react", ReactPayload, MessageAck, "extension: add a reaction"),
    ClientEvent("message:unreact", ReactPayload, MessageAck, "extension: remove the caller's reaction"),
    ClientEvent("typing", TypingPayload, EmptyAck, "typing started or stopped"),
    ClientEvent("read", SeqPayload, ReadAck, "move the read position forward (clamped to last_seq)"),
    ClientEvent("delivered", SeqPayload, DeliveredAck, "v2: this device received the messages up to seq"),
    ClientEvent("sync", SyncPayload, SyncAck, "what the device missed, ascending per conversation"),
)
CLIENT_EVENT_NAMES: frozenset[str] = frozenset(e.name for e in CLIENT_EVENTS)
