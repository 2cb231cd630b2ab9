import type { Action } from "./events";
import { advanceCursor, isOlder, mergeMessages, newerOf } from "./messages";
import { patchQuotes, quoteChange, quoteOf, type QuoteChange } from "./replies";
import { emptyConversation, initialState, type ChatState, type ConversationState } from "./state";
import type { Conversation, Id, Message, User } from "./types";

/**
 * The store's only way to change: (state, action) -> new state, no I/O.
 * Each server event of PROTOCOL.md has one case; local actions cover REST answers and acks.
 */
export function reduce(state: ChatState, action: Action): ChatState {
  return followOriginals(advanceVersion(apply(state, action), action), action);
}

/**
 * v2 replies: when a message is edited or deleted, the quotes of it that the client holds
 * (in replies, and in the composer's reply draft) follow at once. The server also sends each
 * reply's own `message:updated` (a higher version, which wins over this patch); this keeps a
 * quote from showing older text than its original meanwhile.
 */
function followOriginals(state: ChatState, action: Action): ChatState {
  const changed: QuoteChange[] = [];
  switch (action.type) {
    case "message:updated":
      changed.push(action.payload.message);
      break;
    case "message:deleted":
      changed.push({ id: action.payload.message_id, conversation_id: action.payload.conversation_id, body: "", deleted: true });
      break;
    case "sync:applied":
      changed.push(...action.changes);
      break;
    default:
      return state;
  }
  let s = state;
  const byConversation = new Map<string, QuoteChange[]>();
  for (const m of changed) byConversation.set(String(m.conversation_id), [...(byConversation.get(String(m.conversation_id)) ?? []), m]);
  for (const [key, originals] of byConversation) {
    s = updateConv(s, Number(key), (c) => {
      const messages = patchQuotes(c.messages, originals);
      return messages === c.messages ? c : { ...c, messages };
    });
    const draft = s.replying[key];
    const original = draft && originals.find((o) => o.id === draft.id);
    if (draft && original) {
      const replying = { ...s.replying };
      if (original.deleted) delete replying[key];
      else replying[key] = { ...draft, ...quoteChange(original) };
      s = { ...s, replying };
    }
  }
  return s;
}

/**
 * v2: a live event announcing version held+1 is the very next change, and it has just been
 * applied, so the held version may move to it. Anything else (a jump: something was missed
 * or is still in flight; a repeat) leaves the version to the next sync, which is always safe.
 */
function advanceVersion(state: ChatState, action: Action): ChatState {
  // `user:updated` changed the member entry of every conversation shared with that user: one
  // version each, listed in `versions`.
  const live: [Id, number][] = action.type === "user:updated"
    ? Object.entries(action.payload.versions ?? {}).map(([id, v]) => [Number(id), v])
    : [liveVersion(action)].filter((x): x is [Id, number] => x !== null);
  let s = state;
  for (const [id, version] of live) {
    s = updateConv(s, id, (c) => (c.version !== null && version === c.version + 1 ? { ...c, version } : c));
  }
  return s;
}

function liveVersion(action: Action): [Id, number] | null {
  let id: Id | undefined;
  let version: number | undefined;
  switch (action.type) {
    case "message:new":
    case "message:updated":
      ({ conversation_id: id, version } = action.payload.message);
      break;
    case "message:acked":
      ({ conversation_id: id, version } = action.message);
      break;
    case "message:deleted":
    case "read":
    case "delivered":
    case "member:joined":
    case "member:left":
      ({ conversation_id: id, version } = action.payload);
      break;
    case "conversation:new":
    case "conversation:updated":
      ({ id, version } = action.payload.conversation);
      break;
  }
  return id !== undefined && typeof version === "number" ? [id, version] : null;
}

function apply(state: ChatState, action: Action): ChatState {
  switch (action.type) {
    case "session":
      return action.me ? { ...state, me: action.me, users: putUser(state.users, action.me) } : initialState();
    case "reset":
      return initialState();
    case "reply:start": {
      if (action.message.deleted) return state; // the server refuses a reply to a deleted message
      return { ...state, replying: { ...state.replying, [String(action.conversation_id)]: quoteOf(action.message) } };
    }
    case "reply:cancel": {
      const key = String(action.conversation_id);
      if (!(key in state.replying)) return state;
      const replying = { ...state.replying };
      delete replying[key];
      return { ...state, replying };
    }
    case "blocks:loaded": {
      const blocked: Record<string, User> = {};
      for (const u of action.users) blocked[String(u.id)] = u;
      return { ...state, blocked, blocks_loaded: true };
    }
    case "block:set": {
      const key = String(action.user.id);
      if (action.blocked === key in state.blocked) return state;
      const blocked = { ...state.blocked };
      if (action.blocked) blocked[key] = state.users[key] ?? action.user;
      else delete blocked[key];
      return { ...state, blocked };
    }
    case "user:updated":
      return applyUserUpdate(state, action.payload.user);
    case "connection":
      return { ...state, connection: action.status, transport: action.transport ?? (action.status === "connected" ? state.transport : null) };

    case "ready": {
      const p = action.payload;
      const convs = { ...state.conversations };
      const seen = new Set<string>();
      for (const c of p.conversations) {
        const key = String(c.id);
        seen.add(key);
        const held = convs[key];
        // A conversation first heard of now starts its cursor at last_seq: nothing to sync,
        // its history is fetched lazily over REST. A known one keeps its cursor so the
        // connect-time sync fetches exactly what was missed while away.
        const base = held ?? { ...emptyConversation(c.id), cursor: c.last_seq };
        convs[key] = {
          ...base,
          last_seq: Math.max(base.last_seq, c.last_seq),
          last_read_seq: c.last_read_seq,
          unread_count: c.unread_count,
          unread_mentions: mentionCount(c.unread_mentions ?? base.unread_mentions, c.unread_count),
        };
      }
      // Conversations the user no longer belongs to drop out (removed while offline).
      for (const key of Object.keys(convs)) if (!seen.has(key) && convs[key].conversation?.is_member !== false) delete convs[key];
      return { ...state, me: p.user, users: putUser(state.users, p.user), conversations: convs, total_unread: p.total_unread };
    }

    case "message:new":
    case "message:acked": {
      const m = action.type === "message:new" ? action.payload.message : action.message;
      return addMessages(state, [m], false);
    }
    case "sync:loaded":
      return addMessages(state, action.messages, false);
    case "sync:applied":
      return applySync(state, action);
    case "cache:loaded": {
      // The offline-first cold start: what the device held last time, before any network answer.
      // Anything already known (a fast network beat the cache) wins over the cached copy.
      const convs = { ...state.conversations };
      let users = state.users;
      for (const c of action.conversations) {
        for (const u of c.conversation?.members ?? []) users = putUser(users, u);
        if (!convs[String(c.id)]) convs[String(c.id)] = c;
      }
      const fresh = Object.keys(state.conversations).length === 0;
      return { ...state, users, conversations: convs, total_unread: fresh ? action.total_unread : state.total_unread };
    }
    case "presence:loaded": {
      let users = state.users;
      for (const u of action.users) users = putUser(users, u);
      return { ...state, users };
    }
    case "message:updated":
      return applyUpdates(state, [action.payload.message], true);
    case "message:deleted": {
      const p = action.payload;
      return updateConv(state, p.conversation_id, (c) => {
        const messages = c.messages.map((m) =>
          m.id === p.message_id ? { ...m, ...deletedFields(), version: p.version ?? m.version } : m,
        );
        const conv = c.conversation?.last_message?.id === p.message_id
          ? { ...c.conversation, last_message: { ...c.conversation.last_message, ...deletedFields() } }
          : c.conversation;
        return { ...c, messages, conversation: conv };
      });
    }

    case "history:loaded": {
      const held = state.conversations[String(action.conversation_id)];
      const heldOldest = held?.messages[0]?.seq ?? Infinity;
      const pageOldest = action.messages[0]?.seq ?? Infinity;
      const next = addMessages(state, action.messages, false);
      // Only a page reaching at least as far back as what we hold says anything about older
      // history: not a newer latest page, nor one filling a hole in the middle (a jump to a
      // quoted message loads a window of old history, and `after=` pages fill it upwards).
      if (pageOldest > heldOldest && (action.messages.length > 0 || !action.older)) return next;
      return updateConv(next, action.conversation_id, (c) => ({ ...c, has_older: action.has_more }));
    }

    case "typing": {
      const p = action.payload;
      if (state.me && p.user_id === state.me.id) return state;
      return updateConv(state, p.conversation_id, (c) => {
        const typing = { ...c.typing };
        if (p.typing) typing[String(p.user_id)] = action.at + Math.max(0, p.expires_in_ms || 0);
        else delete typing[String(p.user_id)];
        return { ...c, typing };
      });
    }

    case "presence": {
      const p = action.payload;
      const held = state.users[String(p.user_id)];
      if (!held) return state;
      const user = { ...held, online: p.online, last_seen_at: p.last_seen_at ?? held.last_seen_at };
      return { ...state, users: { ...state.users, [String(p.user_id)]: user } };
    }

    case "read": {
      const p = action.payload;
      return updateConv(state, p.conversation_id, (c) => {
        const key = String(p.user_id);
        const read_by = { ...c.read_by, [key]: Math.max(c.read_by[key] ?? 0, p.seq) };
        const mine = state.me && p.user_id === state.me.id;
        // Our own read on another device moves our position too.
        return { ...c, read_by, last_read_seq: mine ? Math.max(c.last_read_seq, p.seq) : c.last_read_seq };
      });
    }
    case "delivered": {
      const p = action.payload;
      return updateConv(state, p.conversation_id, (c) => {
        const key = String(p.user_id);
        return { ...c, delivered_by: { ...c.delivered_by, [key]: Math.max(c.delivered_by[key] ?? 0, p.seq) } };
      });
    }
    case "read:acked":
      return updateConv(state, action.conversation_id, (c) => ({
        ...c,
        last_read_seq: Math.max(c.last_read_seq, action.last_read_seq),
        unread_count: action.unread_count,
        // The ack carries no mention count; the `unread` event that follows does. Meanwhile
        // mentions are a subset of the unread: reading everything clears them at once.
        unread_mentions: mentionCount(c.unread_mentions, action.unread_count),
      }));
    case "unread": {
      const p = action.payload;
      const next = updateConv(state, p.conversation_id, (c) => ({
        ...c,
        unread_count: p.unread_count,
        unread_mentions: mentionCount(p.unread_mentions ?? c.unread_mentions, p.unread_count),
      }));
      return { ...next, total_unread: p.total_unread };
    }

    case "conversation:new":
    case "conversation:updated":
      return putConversations(state, [action.payload.conversation]);
    case "conversations:loaded":
      return putConversations(state, action.conversations);
    case "conversation:removed":
      return removeConversations(state, [action.conversation_id]);

    case "member:joined":
    case "member:left": {
      const p = action.payload;
      if (action.type === "member:left" && state.me && p.user.id === state.me.id) {
        return reduce(state, { type: "conversation:removed", conversation_id: p.conversation_id });
      }
      const users = putUser(state.users, p.user);
      return updateConv({ ...state, users }, p.conversation_id, (c) => {
        if (!c.conversation) return c;
        const others = c.conversation.members.filter((u) => u.id !== p.user.id);
        const members = action.type === "member:joined" ? [...others, p.user] : others;
        return { ...c, conversation: { ...c.conversation, members } };
      });
    }
  }
  return state;
}

// ------------------------------------------------------------------ helpers

/**
 * v2 `user:updated` (a new display name; a closed account turning into "Deleted user"): the
 * user everywhere the client shows them. Titles, bubbles and mention lists read `users`;
 * member lists inside conversation objects (and the offline cache) are patched too, with
 * the live presence kept: the event is about the profile.
 */
function applyUserUpdate(state: ChatState, incoming: User): ChatState {
  const key = String(incoming.id);
  const held = state.users[key];
  const user: User = held ? { ...incoming, online: held.online, last_seen_at: incoming.last_seen_at ?? held.last_seen_at } : incoming;
  let conversations = state.conversations;
  for (const [cid, c] of Object.entries(state.conversations)) {
    const members = c.conversation?.members;
    if (!members?.some((u) => u.id === incoming.id)) continue;
    if (conversations === state.conversations) conversations = { ...state.conversations };
    conversations[cid] = { ...c, conversation: { ...c.conversation!, members: members.map((u) => (u.id === incoming.id ? { ...u, ...user, online: u.online } : u)) } };
  }
  const blocked = key in state.blocked ? { ...state.blocked, [key]: user } : state.blocked;
  const me = state.me?.id === incoming.id ? { ...state.me, ...user } : state.me;
  return { ...state, me, users: { ...state.users, [key]: user }, conversations, blocked };
}

/** What a deleted message shows, live or from sync alike (PROTOCOL: empty body; v2: no mentions). */
function deletedFields(): Pick<Message, "deleted" | "body" | "reactions" | "mentions"> {
  return { deleted: true, body: "", reactions: {}, mentions: [] };
}

/** Mentions are unread messages too: never more of them than unread ones. */
function mentionCount(mentions: number | undefined, unread: number): number {
  return Math.max(0, Math.min(mentions ?? 0, unread));
}

function removeConversations(state: ChatState, ids: Id[]): ChatState {
  const convs = { ...state.conversations };
  for (const id of ids) delete convs[String(id)];
  if (Object.keys(convs).length === Object.keys(state.conversations).length) return state;
  return { ...state, conversations: convs, total_unread: sumUnread(convs, state.total_unread, state.conversations) };
}

/**
 * One page of a v2 sync answer, in the order that keeps it equal to a fresh fetch:
 * conversation objects, then removals, then changes to held messages, then new messages,
 * then the cursors and versions the server advanced (kept with max: a live event may
 * already have carried a conversation further while the answer was in flight).
 */
function applySync(state: ChatState, a: Extract<Action, { type: "sync:applied" }>): ChatState {
  let s = putConversations(state, a.conversations);
  s = removeConversations(s, a.removed);
  s = applyUpdates(s, a.changes, false, false);
  s = addMessages(s, a.messages, false);
  const keys = new Set([...Object.keys(a.cursors ?? {}), ...Object.keys(a.versions ?? {})]);
  if (keys.size === 0) return s;
  const convs = { ...s.conversations };
  for (const key of keys) {
    const c = convs[key];
    if (!c) continue;
    const cursor = a.cursors?.[key];
    const version = a.versions?.[key];
    // The cursor only jumps over seqs the client does not hold (a conversation new to it:
    // its older history comes over REST); a held message beyond it still counts.
    const nextCursor = typeof cursor === "number" ? advanceCursor(Math.max(c.cursor, cursor), c.messages) : c.cursor;
    convs[key] = {
      ...c,
      cursor: nextCursor,
      last_seq: Math.max(c.last_seq, nextCursor),
      version: typeof version === "number" ? Math.max(c.version ?? version, version) : c.version,
    };
  }
  return { ...s, conversations: convs };
}

/**
 * Changed copies of messages (message:updated, sync `changes`). A held message is merged
 * (a newer version never loses to an older copy); the conversation's `last_message` follows.
 * A message not held and at or below the cursor is old history the client does not keep:
 * it is not inserted (that would open a hole above it in the list); history fetches bring
 * it current. Live, one beyond the cursor is new to us and goes in like message:new.
 */
function applyUpdates(state: ChatState, incoming: Message[], authoritative: boolean, createUnknown = true): ChatState {
  let s = state;
  const fresh: Message[] = [];
  for (const m of incoming) {
    const key = String(m.conversation_id);
    const c = s.conversations[key];
    if (!c) {
      if (createUnknown) fresh.push(m);
      continue;
    }
    const held = c.messages.some((x) => x.id === m.id);
    if (held || m.seq > c.cursor) {
      fresh.push(m);
      continue;
    }
    const last = c.conversation?.last_message;
    if (c.conversation && last && last.id === m.id) {
      const next = authoritative && !isOlder(m, last) ? m : newerOf(last, m);
      if (next !== last) s = { ...s, conversations: { ...s.conversations, [key]: { ...c, conversation: { ...c.conversation, last_message: next } } } };
    }
  }
  return addMessages(s, fresh, authoritative);
}

function putUser(users: Record<string, User>, u: User): Record<string, User> {
  return { ...users, [String(u.id)]: { ...users[String(u.id)], ...u } };
}

function updateConv(state: ChatState, id: Id, fn: (c: ConversationState) => ConversationState): ChatState {
  const key = String(id);
  const held = state.conversations[key];
  if (!held) return state;
  const next = fn(held);
  return next === held ? state : { ...state, conversations: { ...state.conversations, [key]: next } };
}

function addMessages(state: ChatState, incoming: Message[], authoritative: boolean): ChatState {
  if (incoming.length === 0) return state;
  const groups = new Map<string, Message[]>();
  for (const m of incoming) {
    const key = String(m.conversation_id);
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  const convs = { ...state.conversations };
  for (const [key, msgs] of groups) {
    // A message for a conversation not seen yet: start its cursor just below, so it is
    // not taken for a gap; its history comes over REST when opened.
    const held = convs[key] ?? { ...emptyConversation(Number(key)), cursor: Math.min(...msgs.map((m) => m.seq)) - 1 };
    const messages = mergeMessages(held.messages, msgs, authoritative);
    const newest = messages[messages.length - 1];
    let conversation = held.conversation;
    if (conversation && newest && newest.seq >= (conversation.last_message?.seq ?? 0)) {
      conversation = { ...conversation, last_message: newest, last_seq: Math.max(conversation.last_seq, newest.seq) };
    }
    const me = state.me?.id;
    const delivered_by = { ...held.delivered_by };
    const read_by = { ...held.read_by };
    // A sender has obviously received and read their own message.
    for (const m of msgs) {
      const k = String(m.sender_id);
      if (m.sender_id !== me) {
        delivered_by[k] = Math.max(delivered_by[k] ?? 0, m.seq);
        read_by[k] = Math.max(read_by[k] ?? 0, m.seq);
      }
    }
    const last_seq = Math.max(held.last_seq, newest?.seq ?? 0);
    convs[key] = {
      ...held,
      conversation,
      messages,
      last_seq,
      cursor: advanceCursor(held.cursor, messages),
      delivered_by,
      read_by,
      // A message from someone ends their typing indicator.
      typing: dropTypists(held.typing, msgs),
      activity_at: maxIso(held.activity_at, newest?.created_at ?? ""),
    };
  }
  return { ...state, conversations: convs };
}

function dropTypists(typing: Record<string, number>, msgs: Message[]): Record<string, number> {
  const senders = msgs.map((m) => String(m.sender_id)).filter((k) => k in typing);
  if (senders.length === 0) return typing;
  const next = { ...typing };
  for (const k of senders) delete next[k];
  return next;
}

function putConversations(state: ChatState, list: Conversation[]): ChatState {
  let users = state.users;
  const convs = { ...state.conversations };
  for (const c of list) {
    const key = String(c.id);
    const held = convs[key] ?? { ...emptyConversation(c.id), cursor: c.last_seq };
    // A copy older than the held one (a sync answer overtaken by a live update) changes nothing.
    if (held.conversation && isOlder(c, held.conversation)) continue;
    for (const u of c.members ?? []) users = putUser(users, u);
    const receipts = c.receipts ?? c.read_state ?? {};
    const read_by = { ...held.read_by };
    const delivered_by = { ...held.delivered_by };
    for (const [uid, r] of Object.entries(receipts)) {
      if (typeof r.last_read_seq === "number") read_by[uid] = Math.max(read_by[uid] ?? 0, r.last_read_seq);
      if (typeof r.delivered_seq === "number") delivered_by[uid] = Math.max(delivered_by[uid] ?? 0, r.delivered_seq);
    }
    const lastMsg = c.last_message ?? held.conversation?.last_message ?? null;
    convs[key] = {
      ...held,
      conversation: { ...c, last_message: newestMessage(lastMsg, held.messages[held.messages.length - 1]) },
      last_seq: Math.max(held.last_seq, c.last_seq),
      last_read_seq: Math.max(held.last_read_seq, c.last_read_seq ?? 0),
      unread_count: c.unread_count ?? held.unread_count,
      unread_mentions: mentionCount(c.unread_mentions ?? held.unread_mentions, c.unread_count ?? held.unread_count),
      read_by,
      delivered_by,
      activity_at: maxIso(held.activity_at, c.last_message?.created_at ?? c.updated_at ?? c.created_at ?? ""),
    };
  }
  return { ...state, users, conversations: convs };
}

function newestMessage(a: Message | null, b: Message | undefined): Message | null {
  if (!b) return a;
  if (!a) return b;
  return b.seq >= a.seq ? b : a;
}

function maxIso(a: string, b: string): string {
  return a > b ? a : b;
}

function sumUnread(
  convs: Record<string, ConversationState>,
  fallback: number,
  before: Record<string, ConversationState>,
): number {
  const removed = Object.keys(before).filter((k) => !(k in convs));
  return Math.max(0, fallback - removed.reduce((n, k) => n + (before[k]?.unread_count ?? 0), 0));
}
