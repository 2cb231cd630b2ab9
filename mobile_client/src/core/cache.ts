import type { Store } from "./store";
import type { ChatState, ConversationState } from "./state";
import { readJson, type StorageAdapter } from "./storage";
import type { Conversation, Id, Message } from "./types";

/**
 * The offline-first cache: what a cold start shows before any network answer, and the
 * cursors and versions that let it catch up with one round of `sync` afterwards.
 *
 * `ChatCache` is the host's persistence (IndexedDB on the web, SQLite or AsyncStorage in
 * React Native); `CacheWriter` keeps it in step with the store. One record per conversation
 * holds the conversation, its cursor and version and its latest messages, so a record is
 * always self-consistent: a crash between two writes never pairs a version with messages
 * older than it.
 */

/** Messages kept per conversation: enough to fill a phone screen a few times over. */
export const CACHED_MESSAGES_PER_CONVERSATION = 100;

export interface CachedConversation {
  id: Id;
  conversation: Conversation;
  cursor: number;
  version: number | null;
  last_seq: number;
  last_read_seq: number;
  unread_count: number;
  /** v2; absent in records an older version wrote. */
  unread_mentions?: number;
  has_older: boolean;
  read_by: Record<string, number>;
  delivered_by: Record<string, number>;
  activity_at: string;
  /** The latest messages, ascending seq. */
  messages: Message[];
}

export interface CacheMeta {
  /** Whose cache this is: a different account signing in starts from nothing. */
  user_id: Id;
  total_unread: number;
}

export interface CacheSnapshot {
  meta: CacheMeta | null;
  conversations: CachedConversation[];
}

/** One write: ideally one transaction (IndexedDB, SQLite), at least one record per conversation. */
export interface CacheBatch {
  meta: CacheMeta;
  put: CachedConversation[];
  remove: Id[];
}

export interface ChatCache {
  load(): Promise<CacheSnapshot>;
  write(batch: CacheBatch): Promise<void>;
  clear(): Promise<void>;
}

export function toCached(c: ConversationState, limit = CACHED_MESSAGES_PER_CONVERSATION): CachedConversation | null {
  // Only conversations the user belongs to and has the object of: a visitor's public room
  // or an id only `ready` mentioned would show as nothing anyway, and sync brings them.
  if (!c.conversation || c.conversation.is_member === false) return null;
  const messages = c.messages.length > limit ? c.messages.slice(-limit) : c.messages;
  return {
    id: c.id,
    conversation: c.conversation,
    cursor: c.cursor,
    version: c.version,
    last_seq: c.last_seq,
    last_read_seq: c.last_read_seq,
    unread_count: c.unread_count,
    unread_mentions: c.unread_mentions,
    has_older: c.has_older || messages.length < c.messages.length,
    read_by: c.read_by,
    delivered_by: c.delivered_by,
    activity_at: c.activity_at,
    messages,
  };
}

export function fromCached(c: CachedConversation): ConversationState {
  return {
    id: c.id,
    conversation: c.conversation,
    last_seq: c.last_seq,
    last_read_seq: c.last_read_seq,
    unread_count: c.unread_count,
    unread_mentions: typeof c.unread_mentions === "number" ? c.unread_mentions : 0,
    messages: Array.isArray(c.messages) ? c.messages : [],
    cursor: c.cursor,
    version: typeof c.version === "number" ? c.version : null,
    has_older: c.has_older,
    read_by: c.read_by ?? {},
    delivered_by: c.delivered_by ?? {},
    typing: {},
    activity_at: c.activity_at ?? "",
  };
}

/**
 * A ChatCache over any StorageAdapter (React Native's AsyncStorage as is; MemoryStorage in
 * tests): one key per conversation plus an index and the meta record.
 */
export class StorageCache implements ChatCache {
  constructor(
    private readonly storage: StorageAdapter,
    private readonly prefix = "chat.cache",
  ) {}

  async load(): Promise<CacheSnapshot> {
    const meta = await readJson<CacheMeta | null>(this.storage, `${this.prefix}.meta`, null);
    const ids = await this.ids();
    const conversations: CachedConversation[] = [];
    for (const id of ids) {
      const c = await readJson<CachedConversation | null>(this.storage, this.key(id), null);
      if (c && typeof c.id === "number" && c.conversation) conversations.push(c);
    }
    return { meta, conversations };
  }

  async write(batch: CacheBatch): Promise<void> {
    const ids = new Set(await this.ids());
    for (const c of batch.put) {
      await this.storage.setItem(this.key(c.id), JSON.stringify(c));
      ids.add(c.id);
    }
    for (const id of batch.remove) {
      await this.storage.removeItem(this.key(id));
      ids.delete(id);
    }
    await this.storage.setItem(`${this.prefix}.ids`, JSON.stringify([...ids]));
    await this.storage.setItem(`${this.prefix}.meta`, JSON.stringify(batch.meta));
  }

  async clear(): Promise<void> {
    for (const id of await this.ids()) await this.storage.removeItem(this.key(id));
    await this.storage.removeItem(`${this.prefix}.ids`);
    await this.storage.removeItem(`${this.prefix}.meta`);
  }

  private async ids(): Promise<Id[]> {
    const ids = await readJson<unknown>(this.storage, `${this.prefix}.ids`, []);
    return Array.isArray(ids) ? ids.filter((x): x is Id => typeof x === "number") : [];
  }

  private key(id: Id): string {
    return `${this.prefix}.c.${id}`;
  }
}

/** Same record, apart from typing deadlines (live, never cached): nothing to write. */
function sameRecord(a: ConversationState, b: ConversationState): boolean {
  if (a === b) return true;
  for (const k of Object.keys(a) as (keyof ConversationState)[]) {
    if (k !== "typing" && a[k] !== b[k]) return false;
  }
  return true;
}

/**
 * Writes what changed in the store to the cache, batched (one write per `delayMs` at most)
 * and serialised (writes never overtake each other, and `clear` waits its turn).
 */
export class CacheWriter {
  private written: Record<string, ConversationState> = {};
  private timer: ReturnType<typeof setTimeout> | null = null;
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly cache: ChatCache,
    private readonly onError: (e: unknown) => void = () => undefined,
    private readonly delayMs = 100,
  ) {}

  /** Starts following the store; `state` is what the cache already holds (just loaded). */
  start(state: ChatState = this.store.state): void {
    this.written = { ...state.conversations };
    this.unsubscribe?.();
    this.unsubscribe = this.store.subscribe(() => this.schedule());
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Resolves once everything changed so far is written (tests; before a planned reload). */
  async idle(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      void this.enqueue(() => this.writeChanges()); // awaited through this.chain
    }
    await this.chain;
  }

  /** Forgets everything cached (sign-out, another account). */
  clear(): Promise<void> {
    this.stop();
    this.written = {};
    return this.enqueue(() => this.cache.clear());
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.enqueue(() => this.writeChanges());
    }, this.delayMs);
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(job).catch((e) => this.onError(e));
    return this.chain;
  }

  private async writeChanges(): Promise<void> {
    const state = this.store.state;
    if (!state.me) return;
    const now = state.conversations;
    const put: CachedConversation[] = [];
    const remove: Id[] = [];
    const next: Record<string, ConversationState> = {};
    for (const [key, c] of Object.entries(now)) {
      const cached = toCached(c);
      if (!cached) {
        if (this.written[key]) remove.push(c.id);
        continue;
      }
      next[key] = c;
      const held = this.written[key];
      if (!held || !sameRecord(held, c)) put.push(cached);
    }
    for (const [key, c] of Object.entries(this.written)) if (!(key in now)) remove.push(c.id);
    this.written = next;
    try {
      await this.cache.write({ meta: { user_id: state.me.id, total_unread: state.total_unread }, put, remove });
    } catch (e) {
      // Write it all again next time rather than trust a half-applied batch.
      this.written = {};
      throw e;
    }
  }
}
