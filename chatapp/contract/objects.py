"""The contract's objects (PROTOCOL.md "Objects", v2 "Catching up"), written once.

Every REST answer, socket ack and event payload that carries one of these is
built from these classes (services never write the dict by hand), and the
OpenAPI and AsyncAPI documents and the client's types.ts are generated from
them (``python -m chatapp.contract.generate``).

The library is msgspec, chosen by measurement (chatapp/contract/benchmark.py,
figures in docs/performance.md "The contract library"): building a Message and
encoding it costs about what the hand-written dict did, and validating a
``message:send`` payload about 2 µs, where pydantic v2 took 5-10 times longer
for the Message. Structs are plain classes with ``__slots__``: no validation on
construction (services build them from database rows they trust), validation
on the way in (``chatapp.contract.parse``).

Times are strings (ISO 8601 UTC with milliseconds and ``Z``, ``timeutil.iso``):
the format is the contract's, not the library's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

import msgspec
from msgspec import UNSET as UNSET  # re-exported: "absent" for optional fields
from msgspec import Meta, Struct, UnsetType

from .limits import (
    MAX_CLIENT_ID_CHARS,
    MAX_ID,
    USERNAME_PATTERN,
    ConversationType,
    ErrorCode,
    NotificationLevel,
    Posting,
    PushType,
    Role,
    Visibility,
)

Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
Seq = Annotated[int, Meta(ge=0)]
Count = Annotated[int, Meta(ge=0)]
Version = Annotated[int, Meta(ge=0, description="v2: the conversation's version after this change")]
Time = Annotated[
    str, Meta(extra_json_schema={"format": "date-time", "description": "ISO 8601 UTC with milliseconds and Z"})
]
NullableTime = Annotated[str | None, Meta(extra_json_schema={"format": "date-time"})]
ClientId = Annotated[str, Meta(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]


class Object(Struct, kw_only=True):
    """Base of every contract object; JSON-ready dicts via ``as_dict``."""


class User(Object):
    """PROTOCOL.md: User. ``online`` is live presence, not stored."""

    id: Id
    username: Annotated[str, Meta(pattern=USERNAME_PATTERN)]
    display_name: str
    online: bool
    last_seen_at: NullableTime


class ReplyPreview(Object):
    """v2: the message a reply quotes, as it is now (edited text; empty once deleted)."""

    id: Id
    seq: Annotated[int, Meta(ge=1)]
    sender_id: Id
    body: Annotated[str, Meta(description="at most 200 code points; empty when deleted")]
    deleted: bool


class Message(Object):
    """PROTOCOL.md: Message. A deleted message keeps id and seq, has an empty body and no reactions."""

    id: Id
    conversation_id: Id
    seq: Annotated[int, Meta(ge=1)]
    sender_id: Id
    body: Annotated[str, Meta(description="empty when deleted")]
    client_id: ClientId
    created_at: Time
    edited_at: NullableTime
    deleted: bool
    reactions: Annotated[dict[str, list[int]], Meta(description="emoji -> user ids")]
    version: Annotated[
        int,
        Meta(ge=0, description="v2: the conversation's version at this message's latest change "
                               "(send, edit, delete, reaction)"),
    ]
    mentions: Annotated[
        list[int], Meta(description="v2: the members named as @username in the body (ascending user id)")
    ]
    reply_to: Annotated[
        ReplyPreview | None, Meta(description="v2: the quoted message, null when not a reply (and once deleted)")
    ]
    attachments: Annotated[
        list[Attachment], Meta(description="v2: the uploads the message carries, in the sender's order ([] when "
                                           "none; [] once deleted)")
    ]


class Receipt(Object):
    last_read_seq: int
    delivered_seq: int


class Attachment(Object):
    """v2: one uploaded file (POST /uploads), as a message carries it. ``url`` and
    ``thumbnail_url`` are same-origin paths, authenticated like every request."""

    id: Id
    name: Annotated[str, Meta(description="the file name given at upload, without any folder")]
    content_type: Annotated[str, Meta(description="the type url is served with, found from the bytes (never the "
                                                  "name or the client's header); application/octet-stream for "
                                                  "anything but images, audio, video and PDF")]
    size: Annotated[int, Meta(ge=0, description="bytes that url serves")]
    width: Annotated[int, Meta(ge=1)] | None
    height: Annotated[int, Meta(ge=1)] | None
    url: str
    thumbnail_url: Annotated[str | None, Meta(description="images only: longest side at most 400 px")]


class Conversation(Object):
    """PROTOCOL.md: Conversation, as one viewer sees it (their counts). Groups add
    visibility, posting and roles (absent for direct conversations)."""

    id: Id
    type: ConversationType
    name: str | None
    members: list[User]
    last_seq: Seq
    version: Annotated[
        int,
        Meta(ge=0, description="v2: rises by one with every change a member can see (messages, receipts, name, "
                               "settings, members, roles); gapless per conversation. sync with versions answers "
                               "what changed since (docs/events.md)"),
    ]
    last_message: Message | None
    unread_count: Count
    last_read_seq: Seq
    created_at: Time
    updated_at: Time
    notifications: Annotated[
        NotificationLevel, Meta(description="v2: the caller's notification level here (default all)")
    ]
    muted_until: Annotated[
        str | None,
        Meta(extra_json_schema={"format": "date-time"},
             description="v2: until then the caller's level is none; null when not muted"),
    ]
    unread_mentions: Annotated[int, Meta(ge=0, description="v2: unread messages that mention the caller")]
    receipts: Annotated[
        dict[str, Receipt], Meta(description="extension: user id -> read and delivered positions")
    ] | UnsetType = UNSET
    is_member: Annotated[bool, Meta(description="extension: false for a public room's visitor")] | UnsetType = UNSET
    visibility: Annotated[Visibility, Meta(description="groups only")] | UnsetType = UNSET
    posting: Annotated[Posting, Meta(description="groups only")] | UnsetType = UNSET
    roles: Annotated[dict[str, Role], Meta(description="groups only: user id -> role")] | UnsetType = UNSET


class ReadyConversation(Object):
    """One conversation in ``ready``: enough to decide what to sync."""

    id: Id
    last_seq: Seq
    version: Version
    last_read_seq: Seq
    unread_count: Count
    unread_mentions: Annotated[int, Meta(ge=0, description="v2: unread messages that mention the caller")]


class Room(Object):
    """A public group, as listed by ``GET /rooms`` (groups always have a name)."""

    id: Id
    name: str
    member_count: Count
    online_count: Count
    is_member: bool | UnsetType = UNSET


class Token(Object):
    id: Id
    device_name: str | None
    created_at: Time
    last_used_at: NullableTime
    current: bool


class PushSubscription(Object):
    """v2: one device registered for push notifications (the endpoint or token is never echoed)."""

    id: Id
    type: PushType
    device_name: str | None
    created_at: Time


class Report(Object):
    """v2: a report of a message (POST /messages/<id>/report), as its reporter gets it back."""

    id: Id


# [start, end): code points of a message body, as Python and the server count them
# (a JavaScript client converts to UTF-16 offsets: an emoji before the match counts 2 there).
Highlight = Annotated[tuple[Annotated[int, Meta(ge=0)], Annotated[int, Meta(ge=1)]],
                      Meta(description="[start, end) code-point offsets into the message body")]


class SearchResult(Object):
    """v2: one message found by ``GET /search/messages``, and where q's words matched it."""

    message: Message
    highlights: Annotated[list[Highlight], Meta(description="[start, end) code-point ranges into message.body: "
                                                            "the prefix of each body word that a word of q matched; "
                                                            "ascending, never overlapping")]


class Session(Object):
    user: User
    token: Annotated[str, Meta(description="opaque bearer token; only its SHA-256 is stored")]


class ErrorBody(Object):
    code: ErrorCode
    message: str
    fields: Annotated[dict[str, str], Meta(description="validation_error: field -> reason")] | UnsetType = UNSET
    retry_after: Annotated[int, Meta(ge=1, description="rate_limited: seconds to wait")] | UnsetType = UNSET


class Error(Object):
    """The contract's error envelope, REST and socket alike."""

    error: ErrorBody


class Health(Object):
    status: Literal["ok", "degraded"]
    db: Literal["ok", "error"]
    message_queue: Literal["ok", "error", "disabled"]
    worker: int | UnsetType = UNSET
    async_mode: str | UnsetType = UNSET


OBJECTS: tuple[type[Object], ...] = (User, Message, Conversation, ReadyConversation, Room, Token, PushSubscription,
                                     Session, Error,
                                     Health, Attachment, Report, SearchResult)

Builtins: TypeAlias = dict[str, Any]


def as_dict(obj: Struct) -> Builtins:
    """The JSON-ready dict of a contract object (UNSET fields left out)."""
    result: Builtins = msgspec.to_builtins(obj)
    return result
