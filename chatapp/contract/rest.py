"""Every REST request and answer body under /api/v1, and the table of operations.

The OpenAPI document (docs/openapi.json) is generated from ``OPERATIONS``; the
bodies are the types below and those of objects.py. Errors are always the
contract's envelope (objects.Error); an operation lists the codes it can answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from . import limits
from .events import AttachmentIds, Body, Emoji, Limit, Positions, SendBody
from .events import SyncAnswer as SyncAnswer  # re-exported: the answer of POST /sync
from .objects import (
    Attachment,
    ClientId,
    Conversation,
    Count,
    Health,
    Id,
    Message,
    NullableTime,
    Object,
    PushSubscription,
    Report,
    Room,
    SearchResult,
    Seq,
    Session,
    Time,
    Token,
    User,
)

# ---------------------------------------------------------------- requests


class Request(Object):
    """A REST request body. Unknown fields are ignored."""


Password = Annotated[str, Meta(extra_json_schema={"minLength": limits.MIN_PASSWORD_CHARS,
                                                  "maxLength": limits.MAX_PASSWORD_CHARS})]


class RegisterRequest(Request):
    username: str
    password: Password
    display_name: str | None | UnsetType = UNSET
    device_name: str | None | UnsetType = UNSET


class LoginRequest(Request):
    username: str
    password: str
    device_name: str | None | UnsetType = UNSET


class CreateDirectRequest(Request, tag_field="type", tag="direct"):
    user_id: Id


class CreateGroupRequest(Request, tag_field="type", tag="group"):
    name: Annotated[str, Meta(extra_json_schema={"minLength": 1, "maxLength": limits.MAX_NAME_CHARS})]
    member_ids: list[Id] | None | UnsetType = UNSET
    visibility: limits.Visibility | None | UnsetType = UNSET
    posting: limits.Posting | None | UnsetType = UNSET


CreateConversationRequest = CreateDirectRequest | CreateGroupRequest


class UpdateConversationRequest(Request):
    """An absent field is left as it is."""

    name: str | UnsetType = UNSET
    visibility: limits.Visibility | None | UnsetType = UNSET
    posting: limits.Posting | None | UnsetType = UNSET


class SendRequest(Request):
    body: SendBody
    client_id: ClientId
    attachments: AttachmentIds | None | UnsetType = UNSET
    reply_to: Annotated[Id | None, Meta(description="v2: quote this message of the same conversation")] | UnsetType = (
        UNSET
    )


class EditRequest(Request):
    body: Body


class ReactRequest(Request):
    emoji: Emoji


class SeqRequest(Request):
    seq: Seq


class EmptyRequest(Request):
    pass


class UserIdRequest(Request):
    user_id: Id


class RoleRequest(Request):
    role: limits.Role


class SyncRequest(Request):
    cursors: Positions
    versions: Positions | None | UnsetType = UNSET
    limit: Limit | None | UnsetType = UNSET


class SettingsRequest(Request):
    """v2: the caller's notification settings in one conversation; an absent field is left as it is."""

    notifications: limits.NotificationLevel | UnsetType = UNSET
    muted_until: Annotated[
        str | None, Meta(extra_json_schema={"format": "date-time"},
                         description="mute until this time (null: unmute); a time in the past unmutes")
    ] | UnsetType = UNSET


class WebPushKeys(Object):
    p256dh: Annotated[str, Meta(description="base64url of the browser's P-256 public key (65 bytes)")]
    auth: Annotated[str, Meta(description="base64url of the 16-byte authentication secret")]


class WebPushSubscriptionRequest(Request, tag_field="type", tag="webpush"):
    endpoint: Annotated[str, Meta(max_length=limits.MAX_PUSH_ENDPOINT_CHARS,
                                  description="the push service URL (https, public host)")]
    keys: WebPushKeys
    device_name: str | None | UnsetType = UNSET


class FcmSubscriptionRequest(Request, tag_field="type", tag="fcm"):
    token: Annotated[str, Meta(min_length=1, max_length=limits.MAX_PUSH_TOKEN_CHARS,
                               description="the FCM registration token of the app install")]
    device_name: str | None | UnsetType = UNSET


SubscriptionRequest = WebPushSubscriptionRequest | FcmSubscriptionRequest


class UpdateMeRequest(Request):
    """v2: the caller's profile; only the display name can change."""

    display_name: Annotated[str, Meta(description="1-64 code points after trimming",
                                      extra_json_schema={"minLength": 1,
                                                         "maxLength": limits.MAX_DISPLAY_NAME_CHARS})]


class ChangePasswordRequest(Request):
    current_password: str
    new_password: Password


class CloseAccountRequest(Request):
    password: Annotated[str, Meta(description="the account's current password")]


class ReportRequest(Request):
    reason: Annotated[str, Meta(description="1-1000 code points after trimming",
                                extra_json_schema={"minLength": 1, "maxLength": limits.MAX_REPORT_REASON_CHARS})]


# ---------------------------------------------------------------- answers


class Answer(Object):
    """A REST answer body."""


class UserAnswer(Answer):
    user: User


class UsersAnswer(Answer):
    users: list[User]


class TokensAnswer(Answer):
    tokens: list[Token]


class ConversationAnswer(Answer):
    conversation: Conversation


class ConversationPage(Answer):
    conversations: list[Conversation]
    next_cursor: str | None


class MessageAnswer(Answer):
    message: Message


class MessagePage(Answer):
    messages: list[Message]
    has_more: bool


class ReadAnswer(Answer):
    conversation_id: Id
    last_read_seq: Seq
    unread_count: Count


class DeliveredAnswer(Answer):
    conversation_id: Id
    delivered_seq: Seq


class RoomsAnswer(Answer):
    rooms: list[Room]


class WebPushConfig(Object):
    public_key: Annotated[str, Meta(description="VAPID application server key: base64url, uncompressed P-256 "
                                                "point; pass it to PushManager.subscribe")]


class PushConfig(Answer):
    webpush: WebPushConfig


class SubscriptionAnswer(Answer):
    subscription: PushSubscription


class SubscriptionsAnswer(Answer):
    subscriptions: list[PushSubscription]


class SearchAnswer(Answer):
    """v2: a page of search results, newest first."""

    results: list[SearchResult]
    next_cursor: Annotated[str | None, Meta(description="pass as cursor for the next (older) page; null on the "
                                                        "last page")]


class UploadAnswer(Answer):
    """v2: the stored upload; send its id in a message's ``attachments``."""

    upload: Attachment


class BlocksAnswer(Answer):
    """v2: the users the caller blocked, most recently blocked first."""

    users: list[User]


class ReportAnswer(Answer):
    report: Report


class ExportProfile(Object):
    id: Id
    username: str
    display_name: str
    created_at: Time
    last_seen_at: NullableTime


class ExportToken(Object):
    """A login (device) of the user: its label and times, never the secret or its hash."""

    id: Id
    device_name: str | None
    created_at: Time
    last_used_at: NullableTime
    revoked_at: Annotated[str | None, Meta(extra_json_schema={"format": "date-time"},
                                           description="null while the login is live")]


class ExportMember(Object):
    id: Id
    username: str


class ExportConversation(Object):
    id: Id
    type: limits.ConversationType
    name: str | None
    role: Annotated[limits.Role | None, Meta(description="groups: the user's role; null in direct conversations")]
    joined_at: Time
    members: Annotated[list[ExportMember], Meta(description="ids and usernames only")]


class ExportMessage(Object):
    """A message the user sent. A deleted one is listed with ``deleted: true`` and an empty body
    (the server keeps no deleted text)."""

    id: Id
    conversation_id: Id
    seq: Annotated[int, Meta(ge=1)]
    body: str
    client_id: str
    created_at: Time
    edited_at: NullableTime
    deleted: bool
    reply_to: Annotated[Id | None, Meta(description="the id of the quoted message, if any")]
    attachments: Annotated[list[Id], Meta(description="upload ids, in the message's order (see uploads)")]


class ExportUpload(Object):
    id: Id
    name: str
    content_type: str
    size: Annotated[int, Meta(ge=0)]
    created_at: Time
    message_id: Annotated[Id | None, Meta(description="the message carrying it; null while unattached")]
    deleted: Annotated[bool, Meta(description="its message was deleted (the file is no longer served)")]


class ExportPushSubscription(Object):
    id: Id
    type: limits.PushType
    device_name: str | None
    created_at: Time


class AccountExport(Answer):
    """v2: GET /me/export, everything the server holds that the user wrote or registered
    (others' messages are not included). Served as a download."""

    exported_at: Time
    user: ExportProfile
    tokens: list[ExportToken]
    conversations: Annotated[list[ExportConversation], Meta(description="the conversations the user is a member "
                                                                         "of now")]
    messages: Annotated[list[ExportMessage], Meta(description="every message the user sent, in any conversation "
                                                              "(also those they left), by id")]
    push_subscriptions: list[ExportPushSubscription]
    uploads: list[ExportUpload]


# ---------------------------------------------------------------- operations

ERRORS = (400, 401, 403, 404, 413, 429, 503)
WITH_CONFLICT = (400, 401, 403, 404, 409, 413, 429, 503)


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query"]
    schema: dict[str, Any]
    description: str | None = None

    @property
    def required(self) -> bool:
        return self.where == "path"


def path_id(name: str, what: str) -> Param:
    return Param(name, "path", {"type": "integer", "minimum": 1},
                 f"{what} id (a positive integer; anything else is validation_error)")


def page_limit(default: int, maximum: int) -> Param:
    return Param("limit", "query", {"type": "integer", "minimum": 1},
                 f"page size (default {default}, clamped to {maximum})")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    # status -> (description, body type or None for no body, media type)
    answers: dict[int, tuple[str, Any]]
    errors: tuple[int, ...] = ERRORS
    params: tuple[Param, ...] = ()
    request: Any = None
    request_required: bool = True
    public: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


CONVERSATION_ID = path_id("conversation_id", "conversation")
MESSAGE_ID = path_id("message_id", "message")
USER_ID = path_id("user_id", "user")
# An answer that is not JSON: its media type (the body is a string).
TEXT_PLAIN = "text/plain"
HTML = "text/html"
SCRIPT = "text/javascript"
STYLE = "text/css"
# An upload's bytes: their type varies (the Attachment's content_type); this one names every one of them.
UPLOADED = "*/*"
UPLOAD_ID = path_id("upload_id", "upload")

OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/api/v1/auth/register", "register", "Create an account", "auth",
              {201: ("the new user and a token; also sets the session cookie", Session)},
              errors=(409, *ERRORS), request=RegisterRequest, public=True),
    Operation("post", "/api/v1/auth/login", "login", "Log in", "auth",
              {200: ("the user and a new token; also sets the session cookie", Session)},
              request=LoginRequest, public=True),
    Operation("post", "/api/v1/auth/logout", "logout",
              "Log out: revoke the token used (and end the cookie session); its sockets are disconnected", "auth",
              {204: ("done", None)}),
    Operation("get", "/api/v1/auth/tokens", "listTokens", "The caller's live tokens (devices)", "auth",
              {200: ("tokens", TokensAnswer)}),
    Operation("delete", "/api/v1/auth/tokens/{token_id}", "revokeToken",
              "Revoke one of the caller's tokens; its sockets are disconnected", "auth",
              {204: ("done", None)}, params=(path_id("token_id", "token"),)),
    Operation("get", "/api/v1/me", "me", "The caller", "users", {200: ("the caller", UserAnswer)}),
    Operation("get", "/api/v1/users", "searchUsers", "Users whose username or display name starts with q", "users",
              {200: ("users", UsersAnswer)},
              params=(Param("q", "query", {"type": "string"}, "prefix, case-insensitive"), page_limit(20, 100))),
    Operation("get", "/api/v1/users/{user_id}", "getUser", "One user", "users",
              {200: ("the user", UserAnswer)}, params=(USER_ID,)),
    Operation("patch", "/api/v1/me", "updateMe",
              "v2: change the caller's display name; users who share a conversation get user:updated", "users",
              {200: ("the caller", UserAnswer)}, request=UpdateMeRequest),
    Operation("post", "/api/v1/auth/password", "changePassword",
              "v2: change the password; every other token is revoked and its sockets get session:revoked "
              "(password_changed) and are disconnected; the token used stays valid. A wrong current_password is "
              "403 forbidden (the caller stays signed in)", "auth",
              {204: ("done", None)}, request=ChangePasswordRequest),
    Operation("delete", "/api/v1/me", "closeAccount",
              "v2: close the account: tokens revoked, sockets disconnected (session:revoked account_closed), push "
              "subscriptions deleted, groups left; login refused afterwards and the username stays taken. Its "
              "messages stay, their sender shown as Deleted user. A wrong password is 403 forbidden", "users",
              {204: ("closed", None)}, request=CloseAccountRequest),
    Operation("get", "/api/v1/me/export", "exportAccount",
              "v2: download the caller's data (Content-Disposition: attachment; chat-export-<username>.json)",
              "users", {200: ("the export", AccountExport)}),
    Operation("get", "/api/v1/me/blocks", "listBlocks", "v2: the users the caller blocked", "safety",
              {200: ("blocked users", BlocksAnswer)}),
    Operation("post", "/api/v1/users/{user_id}/block", "blockUser",
              "v2: block a user (idempotent): no new direct conversation, no direct messages, no presence or typing "
              "either way; group messages still flow (docs/security.md). Blocking yourself is validation_error",
              "safety", {204: ("blocked", None)}, params=(USER_ID,), request=EmptyRequest, request_required=False),
    Operation("delete", "/api/v1/users/{user_id}/block", "unblockUser", "v2: unblock a user (idempotent)", "safety",
              {204: ("not blocked", None)}, params=(USER_ID,)),
    Operation("post", "/api/v1/messages/{message_id}/report", "reportMessage",
              "v2: report a message to the operators (anyone who can read it; others get not_found)", "safety",
              {201: ("reported", ReportAnswer)}, params=(MESSAGE_ID,), request=ReportRequest),
    Operation("get", "/api/v1/conversations", "listConversations",
              "The caller's conversations, most recent activity first", "conversations",
              {200: ("a page", ConversationPage)},
              params=(page_limit(50, 100),
                      Param("cursor", "query", {"type": "string"}, "next_cursor of the previous page"))),
    Operation("post", "/api/v1/conversations", "createConversation",
              "Open the direct conversation with a user, or create a group", "conversations",
              {201: ("created", ConversationAnswer), 200: ("the direct conversation already existed",
                                                           ConversationAnswer)},
              request=CreateConversationRequest),
    Operation("get", "/api/v1/conversations/{conversation_id}", "getConversation",
              "One conversation (members, or anyone for a public room)", "conversations",
              {200: ("the conversation", ConversationAnswer)}, params=(CONVERSATION_ID,)),
    Operation("patch", "/api/v1/conversations/{conversation_id}", "updateConversation",
              "Rename a group or change visibility/posting (owner/admin)", "conversations",
              {200: ("the conversation", ConversationAnswer)}, params=(CONVERSATION_ID,),
              request=UpdateConversationRequest),
    Operation("get", "/api/v1/conversations/{conversation_id}/messages", "history",
              "A page of messages in ascending seq", "messages", {200: ("a page", MessagePage)},
              params=(CONVERSATION_ID,
                      Param("before", "query", {"type": "integer", "minimum": 0}, "messages with seq below"),
                      Param("after", "query", {"type": "integer", "minimum": 0},
                            "messages with seq above (not with before)"),
                      page_limit(limits.HISTORY_DEFAULT_LIMIT, limits.HISTORY_MAX_LIMIT))),
    Operation("post", "/api/v1/conversations/{conversation_id}/messages", "sendMessage",
              "Send a message (idempotent by client_id)", "messages",
              {201: ("stored", MessageAnswer), 200: ("this client_id was already used: the original", MessageAnswer)},
              params=(CONVERSATION_ID,), request=SendRequest),
    Operation("patch", "/api/v1/messages/{message_id}", "editMessage", "Edit (sender only)", "messages",
              {200: ("the message", MessageAnswer)}, errors=WITH_CONFLICT, params=(MESSAGE_ID,),
              request=EditRequest),
    Operation("delete", "/api/v1/messages/{message_id}", "deleteMessage",
              "Delete (sender, or a group owner/admin); keeps id and seq", "messages",
              {204: ("done", None)}, params=(MESSAGE_ID,)),
    Operation("post", "/api/v1/messages/{message_id}/reactions", "react", "Add a reaction", "messages",
              {200: ("the message", MessageAnswer)}, errors=WITH_CONFLICT, params=(MESSAGE_ID,),
              request=ReactRequest),
    Operation("delete", "/api/v1/messages/{message_id}/reactions/{emoji}", "unreact",
              "Remove the caller's reaction", "messages", {200: ("the message", MessageAnswer)},
              errors=WITH_CONFLICT,
              params=(MESSAGE_ID, Param("emoji", "path", {"type": "string", "minLength": 1}))),
    Operation("post", "/api/v1/conversations/{conversation_id}/read", "markRead",
              "Move the read position forward (never back, clamped to last_seq)", "receipts",
              {200: ("the position", ReadAnswer)}, params=(CONVERSATION_ID,), request=SeqRequest),
    Operation("post", "/api/v1/conversations/{conversation_id}/delivered", "markDelivered",
              "Extension: a device acknowledges receipt up to seq", "receipts",
              {200: ("the position", DeliveredAnswer)}, params=(CONVERSATION_ID,), request=SeqRequest),
    Operation("get", "/api/v1/rooms", "listRooms", "Public groups whose name contains q", "conversations",
              {200: ("rooms", RoomsAnswer)},
              params=(Param("q", "query", {"type": "string"}, "substring, case-insensitive"),)),
    Operation("post", "/api/v1/conversations/{conversation_id}/join", "join", "Join a public group",
              "conversations", {200: ("the conversation", ConversationAnswer)}, params=(CONVERSATION_ID,),
              request=EmptyRequest, request_required=False),
    Operation("post", "/api/v1/conversations/{conversation_id}/members", "addMember", "Add a member (owner/admin)",
              "conversations", {200: ("the conversation", ConversationAnswer)}, params=(CONVERSATION_ID,),
              request=UserIdRequest),
    Operation("patch", "/api/v1/conversations/{conversation_id}/members/{user_id}", "setRole",
              "Change a member's role (owner only)", "conversations",
              {200: ("the conversation", ConversationAnswer)}, params=(CONVERSATION_ID, USER_ID),
              request=RoleRequest),
    Operation("delete", "/api/v1/conversations/{conversation_id}/members/{user_id}", "removeMember",
              "Remove a member (owner/admin), or leave (self)", "conversations", {204: ("done", None)},
              params=(CONVERSATION_ID, USER_ID)),
    Operation("patch", "/api/v1/conversations/{conversation_id}/settings", "updateSettings",
              "v2: the caller's notification level and mute in one conversation (changes pushes only)",
              "notifications", {200: ("the conversation", ConversationAnswer)}, params=(CONVERSATION_ID,),
              request=SettingsRequest),
    Operation("get", "/api/v1/push/config", "pushConfig", "v2: the Web Push application server key", "notifications",
              {200: ("the VAPID public key", PushConfig)}),
    Operation("post", "/api/v1/push/subscriptions", "subscribePush",
              "v2: register this device for push (Web Push subscription or FCM token)", "notifications",
              {201: ("registered", SubscriptionAnswer),
               200: ("the endpoint or token was registered already (now the caller's)", SubscriptionAnswer)},
              request=SubscriptionRequest),
    Operation("get", "/api/v1/push/subscriptions", "listPushSubscriptions", "v2: the caller's push subscriptions",
              "notifications", {200: ("subscriptions", SubscriptionsAnswer)}),
    Operation("delete", "/api/v1/push/subscriptions/{subscription_id}", "unsubscribePush",
              "v2: remove one of the caller's push subscriptions", "notifications", {204: ("done", None)},
              params=(path_id("subscription_id", "subscription"),)),
    Operation("post", "/api/v1/uploads", "upload",
              "v2: upload one file: multipart/form-data with the file in the field `file` (at most "
              "CHAT_MAX_UPLOAD_BYTES, default 25 MiB; the type is found from the bytes; images get a thumbnail and "
              "lose their metadata); attach it to a message within 24 h (docs/attachments.md)", "messages",
              {201: ("stored", UploadAnswer)},
              extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["file"],
                  "properties": {"file": {"type": "string", "format": "binary",
                                          "description": "the file; its name is kept, its declared type ignored"}},
              }}}}}),
    Operation("get", "/api/v1/uploads/{upload_id}/file/{name}", "download",
              "v2: an upload's bytes, for its uploader and whoever can read a message carrying it (anyone else: 404). "
              "Range (one range: 206; unsatisfiable: 416), ETag and If-None-Match (304); nosniff; anything but "
              "images, audio, video and PDF is application/octet-stream with Content-Disposition: attachment",
              "messages",
              {200: ("the file (its content_type)", UPLOADED), 206: ("the requested range", UPLOADED),
               304: ("not modified (If-None-Match)", None), 416: ("the range is past the end", None)},
              params=(UPLOAD_ID, Param("name", "path", {"type": "string", "minLength": 1},
                                       "the upload's name (decorative: any name serves the file)"))),
    Operation("get", "/api/v1/uploads/{upload_id}/thumbnail", "thumbnail",
              "v2: an image upload's thumbnail (JPEG, or WebP with transparency; longest side at most 400 px), "
              "readable like the file; 404 for other uploads", "messages",
              {200: ("the thumbnail", UPLOADED), 206: ("the requested range", UPLOADED),
               304: ("not modified (If-None-Match)", None), 416: ("the range is past the end", None)},
              params=(UPLOAD_ID,)),
    Operation("get", "/api/v1/search/messages", "searchMessages",
              "v2: messages whose words start with every word of q (case and accents ignored), newest first, in "
              "the caller's conversations (or one conversation the caller can read); deleted messages never, edited "
              "ones by their current text (docs/search.md)", "messages",
              {200: ("a page of results", SearchAnswer)},
              params=(Param("q", "query", {"type": "string", "minLength": 1,
                                           "maxLength": limits.MAX_SEARCH_QUERY_CHARS},
                            "required; words are runs of letters and digits, each must start a word of the body "
                            "(punctuation and search syntax are ignored); blank or longer than "
                            f"{limits.MAX_SEARCH_QUERY_CHARS} characters after trimming: validation_error"),
                      Param("conversation_id", "query", {"type": "integer", "minimum": 1},
                            "only this conversation (one the caller cannot read: not_found; a public room may be "
                            "searched like its history is read)"),
                      Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": limits.SEARCH_MAX_LIMIT},
                            f"page size (default {limits.SEARCH_DEFAULT_LIMIT}; outside 1-{limits.SEARCH_MAX_LIMIT}: "
                            "validation_error)"),
                      Param("cursor", "query", {"type": "string"}, "next_cursor of the previous page (opaque)"))),
    Operation("post", "/api/v1/sync", "sync",
              "Catch up on what a device missed (extension: REST twin of the socket sync)", "messages",
              {200: ("what the device missed", SyncAnswer)}, errors=(400, 401, 413, 503), request=SyncRequest),
    Operation("get", "/api/v1/openapi.json", "openapi", "This document", "meta",
              {200: ("OpenAPI 3.1", dict)}, errors=(), public=True),
    Operation("get", "/api/v1/asyncapi.json", "asyncapi", "The Socket.IO events of /chat (AsyncAPI 3.0)", "meta",
              {200: ("AsyncAPI 3.0", dict)}, errors=(), public=True),
    Operation("get", "/api/v1/reference", "reference",
              "The readable API reference: a page that renders the two documents", "meta",
              {200: ("HTML page (Content-Security-Policy: default-src 'self')", HTML)}, errors=(), public=True),
    Operation("get", "/api/v1/reference.js", "referenceScript", "The reference page's viewer script", "meta",
              {200: ("JavaScript", SCRIPT)}, errors=(), public=True),
    Operation("get", "/api/v1/reference.css", "referenceStyle", "The reference page's style sheet", "meta",
              {200: ("CSS", STYLE)}, errors=(), public=True),
    Operation("get", "/healthz", "healthz", "Per-worker health: database and message queue", "meta",
              {200: ("healthy", Health), 503: ("degraded", Health)}, errors=(), public=True),
    Operation("get", "/metrics", "metrics", "Prometheus metrics of this worker", "meta",
              {200: ("Prometheus text format", TEXT_PLAIN)}, errors=(), public=True),
)

REQUESTS: tuple[type[Struct], ...] = (
    RegisterRequest, LoginRequest, CreateDirectRequest, CreateGroupRequest, UpdateConversationRequest, SendRequest,
    EditRequest, ReactRequest, SeqRequest, EmptyRequest, UserIdRequest, RoleRequest, SyncRequest, SettingsRequest,
    WebPushSubscriptionRequest, FcmSubscriptionRequest, UpdateMeRequest, ChangePasswordRequest, CloseAccountRequest,
    ReportRequest,
)
ANSWERS: tuple[type[Struct], ...] = (
    UserAnswer, UsersAnswer, TokensAnswer, ConversationAnswer, ConversationPage, MessageAnswer, MessagePage,
    ReadAnswer, DeliveredAnswer, RoomsAnswer, SyncAnswer, PushConfig, SubscriptionAnswer, SubscriptionsAnswer,
    UploadAnswer, BlocksAnswer, ReportAnswer, AccountExport, SearchAnswer,
)
