/**
 * Wire types mirroring /shared/PROTOCOL.md (v1 and the v2 catch-up additions). Names are the contract's;
 * extensions the server may add are optional fields so older servers still type-check.
 */

export type Id = number;

export interface User {
  id: Id;
  username: string;
  display_name: string;
  online: boolean;
  last_seen_at: string | null;
}

export type Reactions = Record<string, Id[]>;

export interface Message {
  id: Id;
  conversation_id: Id;
  seq: number;
  sender_id: Id;
  body: string;
  client_id: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  reactions: Reactions;
  /** v2: the conversation's version at this message's latest change (absent on v1 servers). */
  version?: number;
}

export type Role = "owner" | "admin" | "member";

/** Per-member receipt positions; a server extension (`receipts` or `read_state`). */
export interface ReceiptState {
  last_read_seq?: number;
  delivered_seq?: number;
}

export interface Conversation {
  id: Id;
  type: "direct" | "group";
  name: string | null;
  members: User[];
  last_seq: number;
  last_message: Message | null;
  unread_count: number;
  last_read_seq: number;
  created_at: string;
  updated_at: string;
  visibility?: "private" | "public";
  posting?: "all" | "admins";
  roles?: Record<string, Role>;
  /** Extension: `{user_id: {last_read_seq, delivered_seq}}`. Absent means unknown. */
  receipts?: Record<string, ReceiptState>;
  read_state?: Record<string, ReceiptState>;
  is_member?: boolean;
  /** v2: raised by every change a member can see (messages, receipts, name, members, roles...). */
  version?: number;
}

export interface Room {
  id: Id;
  name: string;
  member_count: number;
  online_count: number;
}

export interface ErrorBody {
  code: string;
  message: string;
  fields?: Record<string, string>;
  retry_after?: number;
}

export interface ErrorEnvelope {
  error: ErrorBody;
}

// ------------------------------------------------------------- server -> client

export interface ReadyConversation {
  id: Id;
  last_seq: number;
  last_read_seq: number;
  unread_count: number;
  /** v2 */
  version?: number;
}

export interface ReadyPayload {
  user: User;
  conversations: ReadyConversation[];
  total_unread: number;
}

export interface MessagePayload {
  message: Message;
}
export interface MessageDeletedPayload {
  conversation_id: Id;
  message_id: Id;
  seq: number;
  /** v2: the version of the deletion. */
  version?: number;
}
export interface TypingPayload {
  conversation_id: Id;
  user_id: Id;
  typing: boolean;
  expires_in_ms: number;
}
export interface PresencePayload {
  user_id: Id;
  online: boolean;
  last_seen_at: string | null;
}
export interface ReadPayload {
  conversation_id: Id;
  user_id: Id;
  seq: number;
  /** v2 */
  version?: number;
}
/** v2 (adopted extension): a peer's device received messages up to `seq`. */
export interface DeliveredPayload {
  conversation_id: Id;
  user_id: Id;
  seq: number;
  /** v2 */
  version?: number;
}
export interface UnreadPayload {
  conversation_id: Id;
  unread_count: number;
  total_unread: number;
}
export interface ConversationPayload {
  conversation: Conversation;
}
export interface MemberPayload {
  conversation_id: Id;
  user: User;
  /** v2 */
  version?: number;
}
/** The server asks the client to sync now (e.g. its message queue reconnected and may have lost events). */
export interface ResyncPayload {
  reason?: string;
}

/** Every event the server pushes on /chat, by name. */
export interface ServerEvents {
  ready: ReadyPayload;
  "message:new": MessagePayload;
  "message:updated": MessagePayload;
  "message:deleted": MessageDeletedPayload;
  typing: TypingPayload;
  presence: PresencePayload;
  read: ReadPayload;
  delivered: DeliveredPayload;
  unread: UnreadPayload;
  "conversation:new": ConversationPayload;
  "conversation:updated": ConversationPayload;
  "member:joined": MemberPayload;
  "member:left": MemberPayload;
  resync: ResyncPayload;
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
  "resync",
];

// ------------------------------------------------------------- client -> server

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export interface SyncRequest {
  cursors: Record<string, number>;
  /** v2: with it the ack adds changes, conversations, removed (and the advanced cursors/versions). */
  versions?: Record<string, number>;
  limit?: number;
}
export interface SyncAck {
  messages: Message[];
  has_more: boolean;
  /** v2: messages at or below the cursor that changed after the given version, ascending version. */
  changes?: Message[];
  /** v2: conversations whose version rose, and member conversations missing from `cursors`. */
  conversations?: Conversation[];
  /** v2: ids from `cursors` the caller is no longer a member of or cannot see. */
  removed?: Id[];
  /** v2 extension: what to send next / keep after the last page (removed ones absent). */
  cursors?: Record<string, number>;
  versions?: Record<string, number>;
}
