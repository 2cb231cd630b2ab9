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
    Count,
    ErrorBody,
    Id,
    Message,
    Object,
    ReadyConversation,
    Seq,
    User,
    Version,
)

# ---------------------------------------------------------------- server to client


class ServerEvent(Object):
    NAME: ClassVar[str]
    AUDIENCE: ClassVar[str]
    # Said beside the payload in the event table (docs/events.md).
    NOTE: ClassVar[str] = ""
    EXTENSION: ClassVar[bool] = False
    # Sent inside the connecting request (ready) or by a worker to its own
    # sockets (resync) rather than through services.events.
    DIRECT: ClassVar[bool] = False


class Ready(ServerEvent):
    """Right after connecting: who you are and where each conversation stands."""

    NAME = "ready"
    AUDIENCE = "the connecting socket, right after the handshake"
    DIRECT = True
    user: User
    conversations: list[ReadyConversation]
    total_unread: Count


class MessageNew(ServerEvent):
    """A message was stored."""

    NAME = "message:new"
    AUDIENCE = "every device of every member, the sender's devices (the sending socket included)"
    message: Message


class MessageUpdated(ServerEvent):
    """A message was edited or its reactions changed."""

    NAME = "message:updated"
    AUDIENCE = "every device of every member"
    NOTE = "the whole message after the edit or reaction change"
    message: Message


class MessageDeleted(ServerEvent):
    """A message was deleted (it keeps its id and seq)."""

    NAME = "message:deleted"
    AUDIENCE = "every device of every member"
    conversation_id: Id
    message_id: Id
    seq: Seq
    version: Version


class Typing(ServerEvent):
    """Someone started or stopped typing; ``typing: true`` is over after ``expires_in_ms``."""

    NAME = "typing"
    AUDIENCE = "every device of the other members; never the typist's own devices"
    NOTE = "`expires_in_ms` is 0 when `typing` is false"
    conversation_id: Id
    user_id: Id
    typing: bool
    expires_in_ms: Count


class Presence(ServerEvent):
    """A user came online or went offline (offline may wait up to 5 s: a quick reconnect does not flap)."""

    NAME = "presence"
    AUDIENCE = "every device of every user who shares at least one conversation with that user"
    user_id: Id
    online: bool
    last_seen_at: Annotated[str | None, Meta(extra_json_schema={"format": "date-time"})]


class Read(ServerEvent):
    """A member's read position moved forward (read receipts)."""

    NAME = "read"
    AUDIENCE = "every device of every member (read receipts), the reader's own devices included"
    conversation_id: Id
    user_id: Id
    seq: Seq
    version: Version


class Delivered(ServerEvent):
    """v2: a member's device received the conversation's messages up to ``seq``."""

    NAME = "delivered"
    AUDIENCE = "every device of every member"
    EXTENSION = True
    conversation_id: Id
    user_id: Id
    seq: Seq
    version: Version


class Unread(ServerEvent):
    """The user's unread counts changed."""

    NAME = "unread"
    AUDIENCE = "the devices of the one user whose counts changed"
    conversation_id: Id
    unread_count: Count
    total_unread: Count
    unread_mentions: Annotated[int, Meta(ge=0, description="v2: unread messages here that mention the user")]


class ConversationNew(ServerEvent):
    """A conversation appeared for the user (created, added, joined); with their own counts."""

    NAME = "conversation:new"
    AUDIENCE = ("every member's devices when a conversation appears for them: created (the creator's devices "
                "included), opened (direct), added, joined")
    NOTE = "rendered for the recipient: their own `unread_count`, `last_read_seq`"
    conversation: Conversation


class ConversationUpdated(ServerEvent):
    """A conversation changed (name, visibility, posting, members, roles); with the user's own counts."""

    NAME = "conversation:updated"
    AUDIENCE = (
        "the members, when name, visibility, posting, members or roles change (not the member who was just added: "
        "they get `conversation:new`; not a removed member). For a membership change (join, add, leave, remove) "
        "only in groups of at most `CHAT_MEMBER_LIST_FANOUT_LIMIT` members (default 100): each of these events "
        "carries the whole member list, so in larger groups the delta (`member:joined` / `member:left`, with the "
        "new `version`) is the whole announcement"
    )
    NOTE = "rendered for the recipient"
    conversation: Conversation


class MemberJoined(ServerEvent):
    NAME = "member:joined"
    AUDIENCE = "every member's devices, the newcomer's included"
    conversation_id: Id
    user: User
    version: Version


class MemberLeft(ServerEvent):
    NAME = "member:left"
    AUDIENCE = "every member's devices before the removal, so the removed (or leaving) member's too"
    conversation_id: Id
    user: User
    version: Version


class SessionRevoked(ServerEvent):
    """The token this socket was opened with was revoked; the socket is disconnected right after."""

    NAME = "session:revoked"
    AUDIENCE = ("the sockets opened with the revoked token (or all of a deactivated or closed account's); the "
                "server disconnects them right after")
    NOTE = ("`reason`: `logout` (token revoked), `password_changed` (v2: every token but the one that changed it), "
            "`deactivated` (by an operator), `account_closed` (v2: `DELETE /me`)")
    EXTENSION = True
    reason: Literal["logout", "password_changed", "deactivated", "account_closed"]
    token_id: Id | UnsetType = UNSET


class UserUpdated(ServerEvent):
    """v2: a user's profile changed (display name; a closed account now reads as "Deleted user")."""

    NAME = "user:updated"
    AUDIENCE = ("every device of every user who shares a conversation with that user (each once), and the user's "
                "own devices")
    NOTE = ("the user as a fresh `GET /users/<id>` shows them; every conversation they are in gets a new `version` "
            "(its `members` changed): `versions` has those the recipient shares with them")
    user: User
    versions: Annotated[
        dict[str, Version],
        Meta(description="v2: conversation id -> its new version, for each conversation the recipient shares with "
                         "that user (their member entry changed)"),
    ]


class Resync(ServerEvent):
    """Events may have been lost (the message queue reconnected): call ``sync``."""

    NAME = "resync"
    AUDIENCE = ("every socket of a worker whose Redis subscription was restored (events published meanwhile may be "
                "lost): call `sync`")
    EXTENSION = True
    DIRECT = True
    reason: Literal["message_queue_reconnected"]


SERVER_EVENTS: tuple[type[ServerEvent], ...] = (
    Ready, MessageNew, MessageUpdated, MessageDeleted, Typing, Presence, Read, Delivered, Unread,
    ConversationNew, ConversationUpdated, MemberJoined, MemberLeft, SessionRevoked, Resync, UserUpdated,
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


# A sent message's body: as Body, but empty is allowed when it carries attachments.
SendBody = Annotated[str, Meta(
    description="1-4000 code points after trimming (CHAT_MAX_BODY_CHARS); v2: may be empty with attachments",
    extra_json_schema={"maxLength": limits.MAX_BODY_CHARS},
)]
AttachmentIds = Annotated[
    list[Id], Meta(max_length=limits.MAX_ATTACHMENTS,
                   description="v2: upload ids (POST /uploads) of the sender's, each once, not attached yet")
]


class SendPayload(Payload):
    conversation_id: Id
    body: SendBody
    client_id: ClientId
    attachments: AttachmentIds | None | UnsetType = UNSET
    reply_to: Annotated[Id | None, Meta(description="v2: quote this message of the same conversation")] | UnsetType = (
        UNSET
    )


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
    """A client-to-server event: its name, payload type, ack type, what it does and its specific errors."""

    def __init__(
        self, name: str, payload: type[Payload], ack: type[Ack], summary: str, errors: str, *,
        extension: bool = False,
    ) -> None:
        self.name = name
        self.payload = payload
        self.ack = ack
        self.summary = summary
        self.errors = errors
        self.extension = extension


CLIENT_EVENTS: tuple[ClientEvent, ...] = (
    ClientEvent(
        "message:send", SendPayload, MessageAck,
        "send; resending the same client_id returns the original, never a second message",
        "`validation_error` (body empty after trimming or over 4000 code points, `client_id` not 1–64 chars); "
        "`forbidden` (announcement room and caller is a plain member; public room not joined); `rate_limited` + "
        "`retry_after` (beyond a burst of 20)",
    ),
    ClientEvent("message:edit", EditPayload, MessageAck, "edit (sender only)",
                "`forbidden` (not the sender, or no longer a member); `conflict` (message deleted)"),
    ClientEvent("message:delete", MessageIdPayload, EmptyAck, "delete (sender, or a group owner/admin)",
                "`forbidden` (not the sender, and not the owner/admin of the group; or no longer a member)"),
    ClientEvent("message:react", ReactPayload, MessageAck, "add a reaction",
                "`validation_error` (emoji 1–16 chars, no spaces, trimmed); `conflict` (deleted message); "
                "`forbidden` (public room not joined)", extension=True),
    ClientEvent("message:unreact", ReactPayload, MessageAck, "remove the caller's reaction", "as `message:react`",
                extension=True),
    ClientEvent("typing", TypingPayload, EmptyAck, "typing started or stopped",
                "`validation_error` (`typing` not a boolean)"),
    ClientEvent("read", SeqPayload, ReadAck, "move the read position forward (clamped to last_seq)",
                "`validation_error` (negative or non-integer `seq`)"),
    ClientEvent("delivered", SeqPayload, DeliveredAck, "this device received the messages up to seq", "as `read`",
                extension=True),
    ClientEvent(
        "sync", SyncPayload, SyncAck,
        "what the device missed, ascending per conversation; with `versions` also `changes`, `conversations`, "
        "`removed` and the advanced `cursors`/`versions`",
        "`validation_error` (cursors or versions not an object, malformed key, negative or non-integer value, "
        "more than 1000 entries)",
    ),
)
CLIENT_EVENT_NAMES: frozenset[str] = frozenset(e.name for e in CLIENT_EVENTS)
