"""Limits and fixed vocabularies of the contract, written once.

config.py takes its defaults from here (they stay configurable per deployment);
the OpenAPI and AsyncAPI documents state them; the client reads them from the
generated mobile_client/src/core/types.ts (``LIMITS``) instead of its own literals.
"""

from __future__ import annotations

from typing import Final, Literal

# IDs are integers that fit a signed 64-bit column.
MAX_ID: Final = 2**63 - 1
# Message body: 1-4000 code points after trimming (PROTOCOL.md "Limits").
MAX_BODY_CHARS: Final = 4000
# client_id: any string of 1-64 characters chosen by the client (a UUID).
MAX_CLIENT_ID_CHARS: Final = 64
# A reaction key: one emoji sequence, without spaces.
MAX_EMOJI_CHARS: Final = 16
# Group names.
MAX_NAME_CHARS: Final = 100
USERNAME_PATTERN: Final = "^[a-z0-9_.-]{3,32}$"
MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 1024
# One socket payload or REST body.
MAX_PAYLOAD_BYTES: Final = 64 * 1024
# Pages.
HISTORY_DEFAULT_LIMIT: Final = 50
HISTORY_MAX_LIMIT: Final = 100
SYNC_DEFAULT_LIMIT: Final = 500
SYNC_MAX_LIMIT: Final = 1000
# Cursors or versions in one sync.
SYNC_MAX_CONVERSATIONS: Final = 1000

ConversationType = Literal["direct", "group"]
Visibility = Literal["private", "public"]
Posting = Literal["all", "admins"]
Role = Literal["owner", "admin", "member"]
# v2 notification levels of one member in one conversation.
NotificationLevel = Literal["all", "mentions", "none"]
PushType = Literal["webpush", "fcm"]
ErrorCode = Literal[
    "unauthorized", "forbidden", "not_found", "validation_error", "conflict",
    "payload_too_large", "rate_limited", "unavailable", "internal",
]

ERROR_CODES: Final = (
    "unauthorized", "forbidden", "not_found", "validation_error", "conflict",
    "payload_too_large", "rate_limited", "unavailable", "internal",
)
VISIBILITIES: Final = ("private", "public")
POSTING: Final = ("all", "admins")
ROLES: Final = ("owner", "admin", "member")
NOTIFICATION_LEVELS: Final = ("all", "mentions", "none")
PUSH_TYPES: Final = ("webpush", "fcm")
# A push notification's body is a preview of the message (PROTOCOL.md v2).
PUSH_PREVIEW_CHARS: Final = 200
# A reply's quote of the original (PROTOCOL.md v2 "Replies").
REPLY_PREVIEW_CHARS: Final = 200
# Uploads one message may carry (PROTOCOL.md v2 "Attachments").
MAX_ATTACHMENTS: Final = 10
# Web Push endpoints and FCM registration tokens (FCM's are ~160 characters); both
# are one unique column, and PostgreSQL indexes at most ~2,700 bytes of a value.
MAX_PUSH_ENDPOINT_CHARS: Final = 2048
MAX_PUSH_TOKEN_CHARS: Final = 1024
# Subscriptions one user may hold; registering more evicts their oldest.
MAX_PUSH_SUBSCRIPTIONS: Final = 20
# v2 account and safety: a display name, and the reason of a message report (code points after trimming).
MAX_DISPLAY_NAME_CHARS: Final = 64
MAX_REPORT_REASON_CHARS: Final = 1000
# Message search (PROTOCOL.md v2 "Search"): q of 1-200 characters after trimming;
# pages of 1-50 results, 20 by default (outside 1-50 is validation_error, not clamped).
MAX_SEARCH_QUERY_CHARS: Final = 200
SEARCH_DEFAULT_LIMIT: Final = 20
SEARCH_MAX_LIMIT: Final = 50
# Roles that manage a group (add/remove members, rename, delete others' messages).
MANAGERS: Final = ("owner", "admin")

# What the generated client types export as LIMITS.
CLIENT_LIMITS: Final = {
    "maxBodyChars": MAX_BODY_CHARS,
    "maxClientIdChars": MAX_CLIENT_ID_CHARS,
    "maxEmojiChars": MAX_EMOJI_CHARS,
    "maxNameChars": MAX_NAME_CHARS,
    "minPasswordChars": MIN_PASSWORD_CHARS,
    "maxPayloadBytes": MAX_PAYLOAD_BYTES,
    "historyMaxLimit": HISTORY_MAX_LIMIT,
    "syncMaxLimit": SYNC_MAX_LIMIT,
    "maxAttachments": MAX_ATTACHMENTS,
    "maxDisplayNameChars": MAX_DISPLAY_NAME_CHARS,
    "maxReportReasonChars": MAX_REPORT_REASON_CHARS,
    "maxSearchQueryChars": MAX_SEARCH_QUERY_CHARS,
    "searchMaxLimit": SEARCH_MAX_LIMIT,
}
