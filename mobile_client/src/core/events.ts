import type { ConnectionStatus, ConversationState } from "./state";
import type { Conversation, Id, Message, ServerEvents, User } from "./types";

/** A server event as the store sees it: name, payload, and the local receive time (for typing expiry). */
export type ServerAction = {
  [K in keyof ServerEvents]: { type: K; payload: ServerEvents[K]; at: number };
}[keyof ServerEvents];

/** Local facts the client learns outside the event stream (REST answers, acks, connection). */
export type LocalAction =
  | { type: "session"; me: User | null }
  | { type: "connection"; status: ConnectionStatus; transport?: string | null }
  | { type: "conversations:loaded"; conversations: Conversation[] }
  | { type: "conversation:removed"; conversation_id: Id }
  | { type: "history:loaded"; conversation_id: Id; messages: Message[]; has_more: boolean; older: boolean }
  | { type: "sync:loaded"; messages: Message[] }
  /** One page of a v2 sync answer (`versions` sent). */
  | {
      type: "sync:applied";
      messages: Message[];
      changes: Message[];
      conversations: Conversation[];
      removed: Id[];
      cursors?: Record<string, number>;
      versions?: Record<string, number>;
    }
  /** The offline cache's snapshot at start-up (see cache.ts). */
  | { type: "cache:loaded"; conversations: ConversationState[]; total_unread: number }
  /** Members' live presence from a REST refresh (presence is not versioned). */
  | { type: "presence:loaded"; users: User[] }
  | { type: "message:acked"; message: Message }
  | { type: "read:acked"; conversation_id: Id; last_read_seq: number; unread_count: number }
  /** v2 replies: the composer quotes a message, or stops quoting. */
  | { type: "reply:start"; conversation_id: Id; message: Message }
  | { type: "reply:cancel"; conversation_id: Id }
  /** v2 blocks: the server's list (`GET /me/blocks`), and one block or unblock made here. */
  | { type: "blocks:loaded"; users: User[] }
  | { type: "block:set"; user: User; blocked: boolean }
  | { type: "reset" };

export type Action = ServerAction | LocalAction;
