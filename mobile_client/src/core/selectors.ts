import type { ChatState, ConversationState } from "./state";
import type { Id, Message, User } from "./types";

/** Derived views of the state, shared by every UI (web, React Native). */

export function sortedConversations(state: ChatState): ConversationState[] {
  return Object.values(state.conversations)
    .filter((c) => c.conversation !== null)
    .sort((a, b) => (a.activity_at < b.activity_at ? 1 : a.activity_at > b.activity_at ? -1 : b.id - a.id));
}

export function totalUnread(state: ChatState): number {
  return state.total_unread;
}

/** The other members, for a direct conversation's title and the ticks. */
export function otherMembers(state: ChatState, c: ConversationState): User[] {
  const me = state.me?.id;
  return (c.conversation?.members ?? []).filter((u) => u.id !== me).map((u) => state.users[String(u.id)] ?? u);
}

export function conversationTitle(state: ChatState, c: ConversationState): string {
  const conv = c.conversation;
  if (!conv) return `Conversation ${c.id}`;
  if (conv.type === "group") return conv.name ?? "Group";
  const other = otherMembers(state, c)[0];
  return other ? other.display_name || other.username : conv.name ?? "Direct message";
}

/** Users whose `typing: true` has not expired at `now` (PROTOCOL: expires after expires_in_ms). */
export function typingUsers(state: ChatState, conversationId: Id, now: number): User[] {
  const c = state.conversations[String(conversationId)];
  if (!c) return [];
  return Object.entries(c.typing)
    .filter(([, until]) => until > now)
    .map(([uid]) => state.users[uid])
    .filter((u): u is User => Boolean(u));
}

export type Tick = "sent" | "delivered" | "read";

/**
 * Receipt state of one of our own messages. Read/delivered need every other member to
 * have reached the seq; a member with no known position leaves the message at "sent"
 * (unknown is shown as less, never more).
 */
export function tickFor(state: ChatState, c: ConversationState, m: Message): Tick | null {
  if (!state.me || m.sender_id !== state.me.id) return null;
  const others = otherMembers(state, c);
  if (others.length === 0) return "sent";
  const readAll = others.every((u) => (c.read_by[String(u.id)] ?? -1) >= m.seq);
  if (readAll) return "read";
  const deliveredAll = others.every(
    (u) => Math.max(c.delivered_by[String(u.id)] ?? -1, c.read_by[String(u.id)] ?? -1) >= m.seq,
  );
  return deliveredAll ? "delivered" : "sent";
}

/** Sync cursors for every known conversation: `{"<id>": last_seq_seen}`. */
export function syncCursors(state: ChatState, only?: Id[]): Record<string, number> {
  const cursors: Record<string, number> = {};
  for (const c of Object.values(state.conversations)) {
    if (only && !only.includes(c.id)) continue;
    if (c.conversation?.is_member === false) continue;
    cursors[String(c.id)] = c.cursor;
  }
  return cursors;
}

/** Conversations holding a message beyond their cursor: a seq was skipped, sync them. */
export function gappedConversations(state: ChatState): Id[] {
  return Object.values(state.conversations)
    .filter((c) => {
      const last = c.messages[c.messages.length - 1];
      return last !== undefined && last.seq > c.cursor;
    })
    .map((c) => c.id);
}

/**
 * The v2 `sync` request: cursors and versions of every conversation whose version is held.
 * Always the whole set, never a subset: the server answers every member conversation missing
 * from `cursors` in full, so a partial request would fetch all the others again. Conversations
 * without a held version (first heard of in `ready` or a live event) are left out on purpose:
 * the answer then brings them whole, at their current cursor and version.
 */
export function syncRequest(state: ChatState): { cursors: Record<string, number>; versions: Record<string, number> } {
  const cursors: Record<string, number> = {};
  const versions: Record<string, number> = {};
  for (const c of Object.values(state.conversations)) {
    if (c.version === null || c.conversation?.is_member === false) continue;
    cursors[String(c.id)] = c.cursor;
    versions[String(c.id)] = c.version;
  }
  return { cursors, versions };
}
