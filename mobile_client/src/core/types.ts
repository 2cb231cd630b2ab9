/**
 * Wire types of the chat contract (PROTOCOL.md, v1 and the v2 additions).
 * GENERATED from chatapp/contract by `make contract` (python -m chatapp.contract.generate): do not edit.
 * v2 fields and extensions are optional, so a client still type-checks against an older server.
 */

export type Id = number;
export type Role = "owner" | "admin" | "member";
export type Reactions = Record<string, Id[]>;
export type ErrorCode = "unauthorized" | "forbidden" | "not_found" | "validation_error" | "conflict" | "payload_too_large" | "rate_limited" | "unavailable" | "internal";

/** The contract's limits (defaults; a server may be configured lower or higher). */
export const LIMITS = {
  maxBodyChars: 4000,
  maxClientIdChars: 64,
  maxEmojiChars: 16,
  maxNameChars: 100,
  minPasswordChars: 8,
  maxPayloadBytes: 65536,
  historyMaxLimit: 100,
  syncMaxLimit: 1000,
  maxAttachments: 10,
  maxDisplayNameChars: 64,
  maxReportReasonChars: 1000,
  maxSearchQueryChars: 200,
  searchMaxLimit: 50
} as const;

// ------------------------------------------------------------- objects

/** PROTOCOL.md: User. ``online`` is live presence, not stored. */
export interface User {
  id: Id;
  username: string;
  display_name: string;
  online: boolean;
  last_seen_at: string | null;
}

/** v2: the message a reply quotes, as it is now (edited text; empty once deleted). */
export interface ReplyPreview {
  id: Id;
  seq: number;
  sender_id: Id;
  /** at most 200 code points; empty when deleted */
  body: string;
  deleted: boolean;
}

/** v2: one uploaded file (POST /uploads), as a message carries it. ``url`` and ``thumbnail_url`` are same-origin paths, authenticated like every request. */
export interface Attachment {
  id: Id;
  /** the file name given at upload, without any folder */
  name: string;
  /** the type url is served with, found from the bytes (never the name or the client's header); application/octet-stream for anything but images, audio, video and PDF */
  content_type: string;
  /** bytes that url serves */
  size: number;
  width: number | null;
  height: number | null;
  url: string;
  /** images only: longest side at most 400 px */
  thumbnail_url: string | null;
}

/** PROTOCOL.md: Message. A deleted message keeps id and seq, has an empty body and no reactions. */
export interface Message {
  id: Id;
  conversation_id: Id;
  seq: number;
  sender_id: Id;
  /** empty when deleted */
  body: string;
  client_id: string | null;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  /** emoji -> user ids */
  reactions: Record<string, number[]>;
  /** v2: the conversation's version at this message's latest change (send, edit, delete, reaction) */
  version?: number;
  /** v2: the members named as @username in the body (ascending user id) */
  mentions?: number[];
  /** v2: the quoted message, null when not a reply (and once deleted) */
  reply_to?: ReplyPreview | null;
  /** v2: the uploads the message carries, in the sender's order ([] when none; [] once deleted) */
  attachments?: Attachment[];
}

export interface ReceiptState {
  last_read_seq: number;
  delivered_seq: number;
}

/** PROTOCOL.md: Conversation, as one viewer sees it (their counts). Groups add visibility, posting and roles (absent for direct conversations). */
export interface Conversation {
  id: Id;
  type: "direct" | "group";
  name: string | null;
  members: User[];
  last_seq: number;
  /** v2: rises by one with every change a member can see (messages, receipts, name, settings, members, roles); gapless per conversation. sync with versions answers what changed since (docs/events.md) */
  version?: number;
  last_message: Message | null;
  unread_count: number;
  last_read_seq: number;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  /** ISO 8601 UTC with milliseconds and Z */
  updated_at: string;
  /** v2: the caller's notification level here (default all) */
  notifications?: "all" | "mentions" | "none";
  /** v2: until then the caller's level is none; null when not muted */
  muted_until?: string | null;
  /** v2: unread messages that mention the caller */
  unread_mentions?: number;
  /** extension: user id -> read and delivered positions */
  receipts?: Record<string, ReceiptState>;
  /** extension: false for a public room's visitor */
  is_member?: boolean;
  /** groups only */
  visibility?: "private" | "public";
  /** groups only */
  posting?: "admins" | "all";
  /** groups only: user id -> role */
  roles?: Record<string, "admin" | "member" | "owner">;
  /** Legacy name of `receipts` (older servers). */
  read_state?: Record<string, ReceiptState>;
}

/** One conversation in ``ready``: enough to decide what to sync. */
export interface ReadyConversation {
  id: Id;
  last_seq: number;
  /** v2: the conversation's version after this change */
  version?: number;
  last_read_seq: number;
  unread_count: number;
  /** v2: unread messages that mention the caller */
  unread_mentions?: number;
}

/** A public group, as listed by ``GET /rooms`` (groups always have a name). */
export interface Room {
  id: Id;
  name: string;
  member_count: number;
  online_count: number;
  is_member?: boolean;
}

export interface Token {
  id: Id;
  device_name: string | null;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  last_used_at: string | null;
  current: boolean;
}

/** v2: one device registered for push notifications (the endpoint or token is never echoed). */
export interface PushSubscription {
  id: Id;
  type: "fcm" | "webpush";
  device_name: string | null;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
}

export interface Session {
  user: User;
  /** opaque bearer token; only its SHA-256 is stored */
  token: string;
}

export interface ErrorBody {
  code: ErrorCode | (string & {});
  message: string;
  /** validation_error: field -> reason */
  fields?: Record<string, string>;
  /** rate_limited: seconds to wait */
  retry_after?: number;
}

/** The contract's error envelope, REST and socket alike. */
export interface ErrorEnvelope {
  error: ErrorBody;
}

export interface Health {
  status: "degraded" | "ok";
  db: "error" | "ok";
  message_queue: "disabled" | "error" | "ok";
  worker?: number;
  async_mode?: string;
}

/** v2: a report of a message (POST /messages/<id>/report), as its reporter gets it back. */
export interface Report {
  id: Id;
}

/** v2: one message found by ``GET /search/messages``, and where q's words matched it. */
export interface SearchResult {
  message: Message;
  /** [start, end) code-point ranges into message.body: the prefix of each body word that a word of q matched; ascending, never overlapping */
  highlights: [number, number][];
}

// ------------------------------------------------------------- REST bodies (v2)

/** v2: the caller's notification settings in one conversation; an absent field is left as it is. */
export interface SettingsRequest {
  notifications?: "all" | "mentions" | "none";
  /** mute until this time (null: unmute); a time in the past unmutes */
  muted_until?: string | null;
}

export interface WebPushKeys {
  /** base64url of the browser's P-256 public key (65 bytes) */
  p256dh: string;
  /** base64url of the 16-byte authentication secret */
  auth: string;
}

export interface WebPushSubscriptionRequest {
  type: "webpush";
  /** the push service URL (https, public host) */
  endpoint: string;
  keys: WebPushKeys;
  device_name?: string | null;
}

export interface FcmSubscriptionRequest {
  type: "fcm";
  /** the FCM registration token of the app install */
  token: string;
  device_name?: string | null;
}

export interface WebPushConfig {
  /** VAPID application server key: base64url, uncompressed P-256 point; pass it to PushManager.subscribe */
  public_key: string;
}

export interface PushConfig {
  webpush: WebPushConfig;
}

export interface SubscriptionAnswer {
  subscription: PushSubscription;
}

export interface SubscriptionsAnswer {
  subscriptions: PushSubscription[];
}

/** v2: the stored upload; send its id in a message's ``attachments``. */
export interface UploadAnswer {
  upload: Attachment;
}

/** v2: the caller's profile; only the display name can change. */
export interface UpdateMeRequest {
  /** 1-64 code points after trimming */
  display_name: string;
}

export interface ChangePasswordRequest {
  current_password: string;
  new_password: string;
}

export interface CloseAccountRequest {
  /** the account's current password */
  password: string;
}

/** v2: the users the caller blocked, most recently blocked first. */
export interface BlocksAnswer {
  users: User[];
}

export interface ReportRequest {
  /** 1-1000 code points after trimming */
  reason: string;
}

export interface ReportAnswer {
  report: Report;
}

export interface ExportProfile {
  id: Id;
  username: string;
  display_name: string;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  last_seen_at: string | null;
}

/** A login (device) of the user: its label and times, never the secret or its hash. */
export interface ExportToken {
  id: Id;
  device_name: string | null;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  last_used_at: string | null;
  /** null while the login is live */
  revoked_at: string | null;
}

export interface ExportMember {
  id: Id;
  username: string;
}

export interface ExportConversation {
  id: Id;
  type: "direct" | "group";
  name: string | null;
  /** groups: the user's role; null in direct conversations */
  role: "admin" | "member" | "owner" | null;
  /** ISO 8601 UTC with milliseconds and Z */
  joined_at: string;
  /** ids and usernames only */
  members: ExportMember[];
}

/** A message the user sent. A deleted one is listed with ``deleted: true`` and an empty body (the server keeps no deleted text). */
export interface ExportMessage {
  id: Id;
  conversation_id: Id;
  seq: number;
  body: string;
  client_id: string;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  /** the id of the quoted message, if any */
  reply_to: Id | null;
  /** upload ids, in the message's order (see uploads) */
  attachments: Id[];
}

export interface ExportUpload {
  id: Id;
  name: string;
  content_type: string;
  size: number;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
  /** the message carrying it; null while unattached */
  message_id: Id | null;
  /** its message was deleted (the file is no longer served) */
  deleted: boolean;
}

export interface ExportPushSubscription {
  id: Id;
  type: "fcm" | "webpush";
  device_name: string | null;
  /** ISO 8601 UTC with milliseconds and Z */
  created_at: string;
}

/** v2: GET /me/export, everything the server holds that the user wrote or registered (others' messages are not included). Served as a download. */
export interface AccountExport {
  /** ISO 8601 UTC with milliseconds and Z */
  exported_at: string;
  user: ExportProfile;
  tokens: ExportToken[];
  /** the conversations the user is a member of now */
  conversations: ExportConversation[];
  /** every message the user sent, in any conversation (also those they left), by id */
  messages: ExportMessage[];
  push_subscriptions: ExportPushSubscription[];
  uploads: ExportUpload[];
}

/** v2: a page of search results, newest first. */
export interface SearchAnswer {
  results: SearchResult[];
  /** pass as cursor for the next (older) page; null on the last page */
  next_cursor: string | null;
}

// ------------------------------------------------------------- server -> client

/** `ready`: Right after connecting: who you are and where each conversation stands. To: the connecting socket, right after the handshake. */
export interface ReadyPayload {
  user: User;
  conversations: ReadyConversation[];
  total_unread: number;
}

/** `message:new`: A message was stored. To: every device of every member, the sender's devices (the sending socket included). */
export interface MessageNewPayload {
  message: Message;
}

/** `message:updated`: A message was edited or its reactions changed. To: every device of every member. */
export interface MessageUpdatedPayload {
  message: Message;
}

/** `message:deleted`: A message was deleted (it keeps its id and seq). To: every device of every member. */
export interface MessageDeletedPayload {
  conversation_id: Id;
  message_id: Id;
  seq: number;
  /** v2: the conversation's version after this change */
  version?: number;
}

/** `typing`: Someone started or stopped typing; ``typing: true`` is over after ``expires_in_ms``. To: every device of the other members; never the typist's own devices. */
export interface TypingPayload {
  conversation_id: Id;
  user_id: Id;
  typing: boolean;
  expires_in_ms: number;
}

/** `presence`: A user came online or went offline (offline may wait up to 5 s: a quick reconnect does not flap). To: every device of every user who shares at least one conversation with that user. */
export interface PresencePayload {
  user_id: Id;
  online: boolean;
  last_seen_at: string | null;
}

/** `read`: A member's read position moved forward (read receipts). To: every device of every member (read receipts), the reader's own devices included. */
export interface ReadPayload {
  conversation_id: Id;
  user_id: Id;
  seq: number;
  /** v2: the conversation's version after this change */
  version?: number;
}

/** `delivered`: v2: a member's device received the conversation's messages up to ``seq``. To: every device of every member. */
export interface DeliveredPayload {
  conversation_id: Id;
  user_id: Id;
  seq: number;
  /** v2: the conversation's version after this change */
  version?: number;
}

/** `unread`: The user's unread counts changed. To: the devices of the one user whose counts changed. */
export interface UnreadPayload {
  conversation_id: Id;
  unread_count: number;
  total_unread: number;
  /** v2: unread messages here that mention the user */
  unread_mentions?: number;
}

/** `conversation:new`: A conversation appeared for the user (created, added, joined); with their own counts. To: every member's devices when a conversation appears for them: created (the creator's devices included), opened (direct), added, joined. */
export interface ConversationNewPayload {
  conversation: Conversation;
}

/** `conversation:updated`: A conversation changed (name, visibility, posting, members, roles); with the user's own counts. To: the members, when name, visibility, posting, members or roles change (not the member who was just added: they get `conversation:new`; not a removed member). For a membership change (join, add, leave, remove) only in groups of at most `CHAT_MEMBER_LIST_FANOUT_LIMIT` members (default 100): each of these events carries the whole member list, so in larger groups the delta (`member:joined` / `member:left`, with the new `version`) is the whole announcement. */
export interface ConversationUpdatedPayload {
  conversation: Conversation;
}

/** `member:joined`, to every member's devices, the newcomer's included. */
export interface MemberJoinedPayload {
  conversation_id: Id;
  user: User;
  /** v2: the conversation's version after this change */
  version?: number;
}

/** `member:left`, to every member's devices before the removal, so the removed (or leaving) member's too. */
export interface MemberLeftPayload {
  conversation_id: Id;
  user: User;
  /** v2: the conversation's version after this change */
  version?: number;
}

/** `session:revoked`: The token this socket was opened with was revoked; the socket is disconnected right after. To: the sockets opened with the revoked token (or all of a deactivated or closed account's); the server disconnects them right after. */
export interface SessionRevokedPayload {
  reason: "account_closed" | "deactivated" | "logout" | "password_changed";
  token_id?: Id;
}

/** `resync`: Events may have been lost (the message queue reconnected): call ``sync``. To: every socket of a worker whose Redis subscription was restored (events published meanwhile may be lost): call `sync`. */
export interface ResyncPayload {
  reason: "message_queue_reconnected";
}

/** `user:updated`: v2: a user's profile changed (display name; a closed account now reads as "Deleted user"). To: every device of every user who shares a conversation with that user (each once), and the user's own devices. */
export interface UserUpdatedPayload {
  user: User;
  /** v2: conversation id -> its new version, for each conversation the recipient shares with that user (their member entry changed) */
  versions?: Record<string, number>;
}

/** Same shapes under the names the client used before they were generated. */
export type MessagePayload = MessageNewPayload;
export type ConversationPayload = ConversationNewPayload;
export type MemberPayload = MemberJoinedPayload;

/** Every event the server pushes on /chat, by name. */
export interface ServerEvents {
  ready: ReadyPayload;
  "message:new": MessageNewPayload;
  "message:updated": MessageUpdatedPayload;
  "message:deleted": MessageDeletedPayload;
  typing: TypingPayload;
  presence: PresencePayload;
  read: ReadPayload;
  delivered: DeliveredPayload;
  unread: UnreadPayload;
  "conversation:new": ConversationNewPayload;
  "conversation:updated": ConversationUpdatedPayload;
  "member:joined": MemberJoinedPayload;
  "member:left": MemberLeftPayload;
  "session:revoked": SessionRevokedPayload;
  resync: ResyncPayload;
  "user:updated": UserUpdatedPayload;
}

export type ServerEventName = keyof ServerEvents;

export const SERVER_EVENTS: readonly ServerEventName[] = [
  "ready",
  "message:new",
  "message:updated",
  "message:deleted",
  "typing",
  "presence",
  "read",
  "delivered",
  "unread",
  "conversation:new",
  "conversation:updated",
  "member:joined",
  "member:left",
  "session:revoked",
  "resync",
  "user:updated",
];

// ------------------------------------------------------------- client -> server

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export interface SendPayload {
  conversation_id: Id;
  /** 1-4000 code points after trimming (CHAT_MAX_BODY_CHARS); v2: may be empty with attachments */
  body: string;
  client_id: string;
  /** v2: upload ids (POST /uploads) of the sender's, each once, not attached yet */
  attachments?: Id[] | null;
  /** v2: quote this message of the same conversation */
  reply_to?: Id | null;
}

export interface MessageAck {
  message: Message;
}

export interface EditPayload {
  message_id: Id;
  /** 1-4000 code points after trimming (CHAT_MAX_BODY_CHARS) */
  body: string;
}

export interface MessageIdPayload {
  message_id: Id;
}

export interface ReactPayload {
  message_id: Id;
  emoji: string;
}

export interface TypingPayload {
  conversation_id: Id;
  typing: boolean;
}

export interface SeqPayload {
  conversation_id: Id;
  seq: number;
}

export interface ReadAck {
  last_read_seq: number;
  unread_count: number;
}

export interface DeliveredAck {
  delivered_seq: number;
}

export interface SyncPayload {
  /** conversation id (decimal string) -> integer >= 0 */
  cursors: Record<string, number>;
  /** conversation id (decimal string) -> integer >= 0 */
  versions?: Record<string, number> | null;
  /** default 500, clamped to 1000; counts messages and changes together */
  limit?: number | null;
}

export interface SyncAck {
  messages: Message[];
  has_more: boolean;
  changes?: Message[];
  conversations?: Conversation[];
  removed?: Id[];
  cursors?: Record<string, number>;
  versions?: Record<string, number>;
}

/** The sync request (socket `sync` and `POST /api/v1/sync`). */
export type SyncRequest = SyncPayload;
/** What a device missed (socket ``sync`` ack and ``POST /sync``). The v2 fields are present when the request carried ``versions``. */
export interface SyncAck {
  messages: Message[];
  has_more: boolean;
  /** with versions: messages at or below the cursor changed after the version */
  changes?: Message[];
  conversations?: Conversation[];
  removed?: Id[];
  cursors?: Record<string, number>;
  versions?: Record<string, number>;
}

/** Every event a client sends on /chat: its payload and what the ack carries on success. */
export interface ClientEvents {
  "message:send": { payload: SendPayload; ack: MessageAck };
  "message:edit": { payload: EditPayload; ack: MessageAck };
  "message:delete": { payload: MessageIdPayload; ack: object };
  "message:react": { payload: ReactPayload; ack: MessageAck };
  "message:unreact": { payload: ReactPayload; ack: MessageAck };
  typing: { payload: TypingPayload; ack: object };
  read: { payload: SeqPayload; ack: ReadAck };
  delivered: { payload: SeqPayload; ack: DeliveredAck };
  sync: { payload: SyncPayload; ack: SyncAck };
}

export type ClientEventName = keyof ClientEvents;
