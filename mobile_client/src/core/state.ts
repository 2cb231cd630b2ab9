import type { Conversation, Id, Message, ReplyPreview, User } from "./types";

/** Everything the client knows about one conversation. */
export interface ConversationState {
  id: Id;
  /** Full object once fetched (REST list, conversation:new/updated); null when only `ready` mentioned it. */
  conversation: Conversation | null;
  last_seq: number;
  last_read_seq: number;
  unread_count: number;
  /** v2: unread messages that mention the user (never above unread_count); 0 from a v1 server. */
  unread_mentions: number;
  /** Held messages, ascending seq, unique by id. */
  messages: Message[];
  /**
   * Highest seq up to which the client has everything it needs: the `sync` cursor.
   * It only advances through contiguous seqs, so a message at cursor+2 leaves a gap to sync.
   */
  cursor: number;
  /**
   * v2 sync `versions` entry: every change of the conversation up to this version has been
   * applied to what is held. null until a sync answer (or a live event exactly one above)
   * vouches for it; such a conversation is left out of `sync`, so the server sends it whole.
   */
  version: number | null;
  /** Whether older history exists before messages[0] (reverse infinite scroll). */
  has_older: boolean;
  /** Latest known read / delivered seq per member id (receipts). Missing = unknown. */
  read_by: Record<string, number>;
  delivered_by: Record<string, number>;
  /** user id -> epoch ms when their typing indicator expires. */
  typing: Record<string, number>;
  /** ISO time used to order the list: last message or conversation update. */
  activity_at: string;
}

export type ConnectionStatus = "disconnected" | "connecting" | "connected";

export interface ChatState {
  me: User | null;
  connection: ConnectionStatus;
  /** "websocket" or "polling" once connected. */
  transport: string | null;
  users: Record<string, User>;
  conversations: Record<string, ConversationState>;
  total_unread: number;
  /**
   * v2 replies: conversation id -> the message the composer is replying to (a draft, never
   * cached). It follows edits of the original and is dropped when the original is deleted
   * (the server refuses a reply to a deleted message).
   */
  replying: Record<string, ReplyPreview>;
  /**
   * v2 blocks: user id -> the users this account blocked (`GET /me/blocks`, then every block
   * and unblock made here). Who blocked *us* is never told; the server just refuses the send.
   */
  blocked: Record<string, User>;
  /** Whether `blocked` came from the server this session (false: not asked yet, or a v1 server). */
  blocks_loaded: boolean;
}

export function initialState(): ChatState {
  return { me: null, connection: "disconnected", transport: null, users: {}, conversations: {}, total_unread: 0, replying: {}, blocked: {}, blocks_loaded: false };
}

export function emptyConversation(id: Id): ConversationState {
  return {
    id,
    conversation: null,
    last_seq: 0,
    last_read_seq: 0,
    unread_count: 0,
    unread_mentions: 0,
    messages: [],
    cursor: 0,
    version: null,
    has_older: true,
    read_by: {},
    delivered_by: {},
    typing: {},
    activity_at: "",
  };
}
