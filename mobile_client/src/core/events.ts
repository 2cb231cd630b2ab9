import type { ConnectionStatus } from "./state";
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
  | { type: "message:acked"; message: Message }
  | { type: "read:acked"; conversation_id: Id; last_read_seq: number; unread_count: number }
  | { type: "reset" };

export type Action = ServerAction | LocalAction;
