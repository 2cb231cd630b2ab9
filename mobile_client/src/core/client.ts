import { Backoff } from "./backoff";
import { CacheWriter, fromCached, StorageCache, type ChatCache } from "./cache";
import { ChatError, isTransient } from "./errors";
import { Outbox, type OutboxEntry } from "./outbox";
import { RestClient, type FetchLike, type PushConfig, type PushSubscriptionInfo, type PushSubscriptionRequest } from "./rest";
import { gappedConversations, syncCursors, syncRequest } from "./selectors";
import { muteUntil, type MuteChoice, type SettingsChange } from "./settings";
import type { ChatState } from "./state";
import { readJson, type StorageAdapter } from "./storage";
import { Store } from "./store";
import { Transport, type IoFactory, type TransportOptions } from "./transport";
import type { Hole } from "./messages";
import { quoteOf } from "./replies";
import { formatSize } from "./attachments";
import type { PendingAttachment } from "./outbox";
import { fetchUploader, MemoryFileStore, Uploads, uploadsDone, type FileStore, type LocalFile, type Uploader } from "./uploads";
import { LIMITS, SERVER_EVENTS, type AccountExport, type Conversation, type Id, type Message, type ReadyPayload, type ReplyPreview, type SendPayload, type SessionRevokedPayload, type SyncAck, type Token, type User, type UserUpdatedPayload } from "./types";
import { uuidv4 } from "./uuid";
import { MessageSearch } from "./search";

export interface ChatClientOptions {
  /** Server origin, "" for same origin (the PWA). */
  baseUrl: string;
  storage: StorageAdapter;
  fetch?: FetchLike;
  io?: IoFactory;
  transport?: Partial<TransportOptions>;
  /** Storage key prefix, to keep several accounts/instances apart. */
  storagePrefix?: string;
  now?: () => number;
  newId?: () => string;
  /** Cap per sync round trip (PROTOCOL default 500, max 1000). */
  syncLimit?: number;
  /**
   * The offline-first cache (conversations, recent messages, cursors, versions). Defaults to
   * one over `storage`; the web passes IndexedDB (src/platform/idbCache.ts), React Native may
   * pass SQLite. `null` keeps nothing between runs.
   */
  cache?: ChatCache | null;
  /**
   * v2 attachments: where the bytes of files waiting in the outbox live until their message is
   * sent (the web passes IndexedDB, src/platform/idbFiles.ts). Defaults to memory.
   */
  files?: FileStore;
  /** v2 attachments: sends one file to `POST /uploads` (the PWA passes an XMLHttpRequest one for progress). */
  upload?: Uploader;
}

interface Session {
  token: string;
  user: User;
}

/** Why the session ended by itself: a `session:revoked` reason, or none for a refused token. */
export type SignedOutReason = SessionRevokedPayload["reason"];

export interface SendOptions {
  /** v2: the message this one replies to (a held Message, or the quote of one). */
  replyTo?: Message | ReplyPreview | null;
  /** v2: files to upload and attach (at most MAX_ATTACHMENTS); the body may then be empty. */
  files?: LocalFile[];
}

/** Attachments per message: the contract's limit, from the generated types. */
export const MAX_ATTACHMENTS: number = LIMITS.maxAttachments;
/**
 * The server's upload limit when the generated limits state it; they do not (it is
 * CHAT_MAX_UPLOAD_BYTES, per deployment), so the server's 413 is what says a file is too large.
 */
const MAX_UPLOAD_BYTES = (LIMITS as Partial<Record<string, number>>).maxUploadBytes ?? null;

/** History page size (the server's default; its maximum is 100). */
const HISTORY_PAGE = 50;
/** A jump to an unloaded message fetches a page ending this many messages after it. */
const AROUND_AFTER = 15;

/** The longest message body (code points after trimming): the contract's limit, from the generated types. */
export const MAX_BODY = LIMITS.maxBodyChars;

/**
 * The client core facade: REST + socket + store + outbox + sync, with no UI and no DOM.
 *
 * The reconnection recipe lives here: on every `ready` (each connect) and on returning
 * to the foreground it syncs from its cursors, then resends the outbox with the same
 * client_ids; everything received is deduplicated by message id in the reducer.
 */
export class ChatClient {
  readonly store = new Store();
  readonly rest: RestClient;
  readonly transport: Transport;
  readonly outbox: Outbox;
  /** v2 attachments: uploads of queued files, their progress, cancel. */
  readonly uploads: Uploads;
  private readonly newId: () => string;
  private session: Session | null = null;
  private readonly storage: StorageAdapter;
  private readonly sessionKey: string;
  private readonly now: () => number;
  private readonly syncLimit: number;
  private syncing: Promise<void> | null = null;
  /** Whether the server answers v2 sync (null: not known until its first answer). */
  private syncV2: boolean | null = null;
  private readonly cache: ChatCache | null;
  private readonly cacheWriter: CacheWriter | null;
  private syncAgain: Id[] | "all" | null = null;
  private readonly retry = new Backoff(1_000, 30_000);
  private retryTimer: unknown = null;
  private deliveredSent: Record<string, number> = {};
  private deliveredUnsupported = false;
  private typingSentAt: Record<string, number> = {};
  /** How many connects have completed (ready + conversations + sync); tests and UIs can wait on it. */
  readyCount = 0;
  /** The token of a sign-out (or account closing) in progress here: its `session:revoked` is expected. */
  private leaving: string | null = null;
  private unauthorizedFns = new Set<(reason?: SignedOutReason) => void>();
  private errorFns = new Set<(e: unknown) => void>();

  constructor(private readonly opts: ChatClientOptions) {
    const prefix = opts.storagePrefix ?? "chat";
    this.storage = opts.storage;
    this.sessionKey = `${prefix}.session`;
    this.now = opts.now ?? Date.now;
    this.syncLimit = opts.syncLimit ?? 500;
    const getToken = () => this.session?.token ?? null;
    this.rest = new RestClient({ baseUrl: opts.baseUrl, fetch: opts.fetch, getToken });
    this.newId = opts.newId ?? uuidv4;
    this.outbox = new Outbox(opts.storage, `${prefix}.outbox`, this.newId);
    // A message waits for its uploads; everything else is sent as before.
    this.outbox.isReady = uploadsDone;
    const uploadRetry = new Backoff(1_000, 30_000);
    this.uploads = new Uploads({
      outbox: this.outbox,
      files: opts.files ?? new MemoryFileStore(),
      upload: opts.upload ?? fetchUploader(),
      endpoint: () => ({ url: `${opts.baseUrl}/api/v1/uploads`, token: this.session?.token ?? null }),
      onReady: () => void this.flush(),
      onError: (e) => this.report(e),
      retryIn: (e) => (e instanceof ChatError && e.retryAfter ? e.retryAfter * 1000 : uploadRetry.next()),
      resetRetry: () => uploadRetry.reset(),
    });
    this.transport = new Transport({ baseUrl: opts.baseUrl, getToken, io: opts.io, ...opts.transport });
    this.cache = opts.cache === undefined ? new StorageCache(opts.storage, `${prefix}.cache`) : opts.cache;
    this.cacheWriter = this.cache ? new CacheWriter(this.store, this.cache, (e) => this.report(e)) : null;
    this.wireTransport();
  }

  /** Resolves once every state change so far is in the offline cache. */
  async cacheIdle(): Promise<void> {
    await this.cacheWriter?.idle();
  }

  get state(): ChatState {
    return this.store.state;
  }

  get me(): User | null {
    return this.session?.user ?? null;
  }

  get token(): string | null {
    return this.session?.token ?? null;
  }

  /**
   * The session ended without this device asking: the token was refused, or the server
   * revoked it (`session:revoked`: a password change elsewhere, a sign-out of this device from
   * another one, the account closed). Local state is already gone when `fn` runs.
   */
  onUnauthorized(fn: (reason?: SignedOutReason) => void): () => void {
    this.unauthorizedFns.add(fn);
    return () => this.unauthorizedFns.delete(fn);
  }

  /** Background failures (sync, resend) that a UI may want to log or toast. */
  onError(fn: (e: unknown) => void): () => void {
    this.errorFns.add(fn);
    return () => this.errorFns.delete(fn);
  }

  // ------------------------------------------------------------ session

  /**
   * Loads a saved session, the outbox and the offline cache; true when a token was found.
   * With the cache the store holds the conversation list and recent messages before any
   * network answer, so a UI can render at once, offline or not.
   */
  async restore(): Promise<boolean> {
    await this.outbox.load();
    // Bytes of a message written when the app was killed before its outbox entry was: gone.
    // Awaited, so it can never race a file being queued right after start.
    await this.uploads.sweepOrphans().catch((e: unknown) => this.report(e));
    const saved = await readJson<Session | null>(this.storage, this.sessionKey, null);
    if (!saved?.token) return false;
    this.session = saved;
    this.store.dispatch({ type: "session", me: saved.user });
    await this.loadCache(saved.user.id);
    return true;
  }

  private async loadCache(userId: Id): Promise<void> {
    if (!this.cache || !this.cacheWriter) return;
    try {
      const snap = await this.cache.load();
      if (snap.meta && snap.meta.user_id === userId) {
        this.store.dispatch({ type: "cache:loaded", conversations: snap.conversations.map(fromCached), total_unread: snap.meta.total_unread });
      } else if (snap.meta || snap.conversations.length) {
        await this.cache.clear(); // another account's
      }
    } catch (e) {
      this.report(e); // a broken cache only costs the offline start, never the session
    }
    this.cacheWriter.start();
  }

  async register(username: string, password: string, displayName?: string): Promise<User> {
    return this.adopt(await this.rest.register(username, password, displayName));
  }

  async login(username: string, password: string, deviceName?: string): Promise<User> {
    return this.adopt(await this.rest.login(username, password, deviceName));
  }

  /** Revokes the token server-side (best effort), then forgets everything stored locally. */
  async logout(): Promise<void> {
    this.leaving = this.session?.token ?? null;
    try {
      if (this.session) await this.rest.logout();
    } catch {
      // Offline or already revoked: local sign-out must still happen.
    }
    await this.forget();
  }

  private async adopt(res: { user: User; token: string }): Promise<User> {
    this.session = { token: res.token, user: res.user };
    await this.storage.setItem(this.sessionKey, JSON.stringify(this.session));
    await this.outbox.load();
    this.store.dispatch({ type: "session", me: res.user });
    await this.loadCache(res.user.id);
    return res.user;
  }

  private async forget(): Promise<void> {
    this.transport.disconnect();
    this.session = null;
    this.leaving = null;
    this.uploads.stop();
    for (const e of this.outbox.list()) await this.outbox.discard(e.client_id);
    await this.storage.removeItem(this.sessionKey);
    await this.cacheWriter?.clear();
    this.store.dispatch({ type: "reset" });
  }

  // ------------------------------------------------------------ connection

  /** Opens the socket; `ready` then triggers conversations refresh, sync and outbox flush. */
  connect(): void {
    if (!this.session) throw new ChatError("unauthorized", "Sign in first");
    this.transport.connect();
  }

  disconnect(): void {
    this.transport.disconnect();
  }

  /** Call when the app returns to the foreground (AppState "active", visibilitychange). */
  async foreground(): Promise<void> {
    if (!this.session) return;
    if (!this.transport.connected) {
      this.transport.connect();
      return; // ready will sync
    }
    await this.sync();
    await this.flush();
  }

  private wireTransport(): void {
    const t = this.transport;
    t.onStatus((status, name) => this.store.dispatch({ type: "connection", status, transport: name }));
    t.onUnauthorized(() => this.signedOut());
    for (const name of SERVER_EVENTS) {
      t.on(name, (payload: never) => this.onServerEvent(name, payload));
    }
  }

  private onServerEvent(name: (typeof SERVER_EVENTS)[number], payload: never): void {
    this.store.dispatch({ type: name, payload, at: this.now() });
    if (name === "ready") {
      // A v2 server puts `version` on ready's conversations; with none listed, the first
      // sync answer tells.
      const listed = (payload as ReadyPayload).conversations ?? [];
      if (listed.length) this.syncV2 = listed.some((c) => typeof c.version === "number");
      void this.afterReady();
      return;
    }
    if (name === "message:new") {
      const m = (payload as { message: Message }).message;
      this.afterMessages([m]);
      if (!this.state.conversations[String(m.conversation_id)]?.conversation) void this.refreshConversation(m.conversation_id);
    }
    if (name === "conversation:new") {
      const c = (payload as { conversation: Conversation }).conversation;
      void this.sync([c.id]);
    }
    // The server may have lost events for us (its message queue reconnected): catch up.
    if (name === "resync") void this.sync();
    if (name === "user:updated") this.adoptMe((payload as UserUpdatedPayload).user);
    // Revoked (a password change or a sign-out elsewhere, the account closed): the server
    // disconnects this socket next. Sign out now rather than after a refused reconnect.
    if (name === "session:revoked") this.signedOut((payload as SessionRevokedPayload).reason);
  }

  /** Ends the local session once (a refused token and `session:revoked` may both arrive). */
  private signedOut(reason?: SignedOutReason): void {
    const token = this.session?.token;
    // Not for the sign-out or account closing this device asked for: that ends on its own.
    if (!token || token === this.leaving) return;
    void this.forget().then(() => {
      for (const fn of this.unauthorizedFns) fn(reason);
    });
  }

  /** Our own profile changed (here or on another device): the saved session follows. */
  private adoptMe(user: User): void {
    if (!this.session || user.id !== this.session.user.id) return;
    this.session = { ...this.session, user: { ...this.session.user, ...user } };
    void this.storage.setItem(this.sessionKey, JSON.stringify(this.session)).catch((e: unknown) => this.report(e));
  }

  private async afterReady(): Promise<void> {
    this.retry.reset();
    // A slow network may have timed out one receipt: give the server another chance per connect.
    this.deliveredUnsupported = false;
    try {
      // v2: one round of sync brings the list and every change; a v1 server needs the REST list.
      if (this.syncV2 === false) await this.loadConversations();
      await this.sync();
    } catch (e) {
      this.report(e);
    }
    this.readyCount++;
    await this.flush();
    // Presence is live state, not versioned, so catch-up cannot carry it: who is online now
    // comes from a REST refresh in the background (nothing waits for it).
    if (this.syncV2) void this.refreshPresence();
    if (this.syncV2) void this.loadBlocks();
  }

  /** Own echoes settle the outbox; others' messages get a delivered receipt; gaps get a sync. */
  private afterMessages(messages: Message[], checkGaps = true): void {
    const me = this.me?.id;
    const top: Record<string, number> = {};
    for (const m of messages) {
      if (m.sender_id === me && m.client_id && this.outbox.has(m.client_id)) void this.outbox.acknowledge(m.client_id);
      if (m.sender_id !== me) top[m.conversation_id] = Math.max(top[m.conversation_id] ?? 0, m.seq);
    }
    for (const [cid, seq] of Object.entries(top)) void this.sendDelivered(Number(cid), seq);
    if (!checkGaps) return;
    const gaps = gappedConversations(this.state);
    if (gaps.length) void this.sync(gaps);
  }

  // ------------------------------------------------------------ sync

  /**
   * Fetches everything after our cursors with the `sync` event, looping while has_more.
   * Single flight: a request made during a run is merged into one follow-up run.
   */
  sync(only?: Id[]): Promise<void> {
    if (this.syncing) {
      this.syncAgain = !only || this.syncAgain === "all" ? "all" : [...new Set([...(this.syncAgain ?? []), ...only])];
      return this.syncing;
    }
    this.syncing = this.runSync(only).finally(() => {
      this.syncing = null;
      const again = this.syncAgain;
      this.syncAgain = null;
      if (again) void this.sync(again === "all" ? undefined : again);
    });
    return this.syncing;
  }

  private async runSync(only?: Id[]): Promise<void> {
    if (!this.transport.connected) return;
    if (this.syncV2 !== false) {
      if (await this.runSyncV2()) return;
      // A v1 server answered: it sends no conversation objects, so fetch the list over REST.
      try {
        await this.loadConversations();
      } catch (e) {
        this.report(e);
        return;
      }
    }
    await this.runSyncV1(only);
  }

  /**
   * v2 catch-up: `cursors` and `versions` of every held conversation; the answer's
   * conversations, removals, changes and messages are applied page by page, and the next
   * page asks from the cursors and versions the server advanced, until has_more is false.
   * Returns false when the server turned out to speak v1 (nothing lost: its messages are applied).
   */
  private async runSyncV2(): Promise<boolean> {
    let req = syncRequest(this.state);
    for (let round = 0; round < 100; round++) {
      let ack: SyncAck;
      try {
        ack = await this.transport.request<SyncAck>("sync", { ...req, limit: this.syncLimit });
      } catch (e) {
        this.report(e);
        return true;
      }
      const messages = ack.messages ?? [];
      if (!Array.isArray(ack.changes) && !ack.versions) {
        this.syncV2 = false;
        this.store.dispatch({ type: "sync:loaded", messages });
        this.afterMessages(messages, false);
        return false;
      }
      this.syncV2 = true;
      const next = nextSyncRequest(req, ack);
      this.store.dispatch({
        type: "sync:applied",
        messages,
        changes: ack.changes ?? [],
        conversations: ack.conversations ?? [],
        removed: ack.removed ?? [],
        cursors: next.cursors,
        versions: next.versions,
      });
      this.afterMessages(messages, false);
      if (!ack.has_more) return true;
      req = next;
    }
    return true;
  }

  private async runSyncV1(only?: Id[]): Promise<void> {
    let cursors = syncCursors(this.state, only);
    // Bounded: a server that kept answering has_more would otherwise spin forever.
    for (let round = 0; round < 100 && Object.keys(cursors).length > 0; round++) {
      let ack: SyncAck;
      try {
        ack = await this.transport.request<SyncAck>("sync", { cursors, limit: this.syncLimit });
      } catch (e) {
        this.report(e);
        return;
      }
      const messages = ack.messages ?? [];
      this.store.dispatch({ type: "sync:loaded", messages });
      // No gap check here: the sync itself is what closes gaps.
      this.afterMessages(messages, false);
      if (!ack.has_more || messages.length === 0) return;
      const next = { ...cursors };
      for (const m of messages) next[String(m.conversation_id)] = Math.max(next[String(m.conversation_id)] ?? 0, m.seq);
      cursors = next;
    }
  }

  // ------------------------------------------------------------ outbox

  /**
   * Queues a message (persisted first) and tries to send it; returns the outbox entry.
   * `replyTo` quotes a message of the same conversation (v2); the conversation's reply draft
   * is cleared when it is the one sent.
   */
  async sendMessage(conversationId: Id, body: string, opts: SendOptions = {}): Promise<OutboxEntry> {
    const text = body.trim();
    const length = [...text].length;
    const files = opts.files ?? [];
    if ((length === 0 && files.length === 0) || length > MAX_BODY) {
      throw new ChatError("validation_error", `A message is 1 to ${MAX_BODY} characters`);
    }
    if (files.length > MAX_ATTACHMENTS) throw new ChatError("validation_error", `At most ${MAX_ATTACHMENTS} attachments per message`);
    const big = MAX_UPLOAD_BYTES === null ? undefined : files.find((f) => f.size > MAX_UPLOAD_BYTES);
    if (big) throw new ChatError("payload_too_large", `${big.name} is larger than ${formatSize(MAX_UPLOAD_BYTES!)}`);
    const replyTo = opts.replyTo ? ("client_id" in opts.replyTo ? quoteOf(opts.replyTo) : opts.replyTo) : null;
    // The bytes first, then the entry naming them: a crash in between leaves only bytes,
    // which the next start deletes (never an entry whose file is missing).
    const attachments: PendingAttachment[] = [];
    for (const f of files) {
      const key = this.newId();
      await this.uploads.store(key, f);
      attachments.push({ key, name: f.name, type: f.type, size: f.size, width: f.width ?? null, height: f.height ?? null });
    }
    const entry = await this.outbox.enqueue(conversationId, text, { reply_to: replyTo, attachments });
    if (replyTo && this.state.replying[String(conversationId)]?.id === replyTo.id) this.cancelReply(conversationId);
    this.typingSentAt[String(conversationId)] = 0;
    void this.flush();
    return entry;
  }

  /** v2: removes one attachment from a message not sent yet (aborting its upload); with nothing left, the message goes too. */
  cancelUpload(clientId: string, key: string): Promise<void> {
    return this.uploads.cancel(clientId, key);
  }

  /** Sends a failed entry again (after removing the attachment the server refused, say). */
  async retrySend(clientId: string): Promise<void> {
    await this.outbox.retry(clientId);
    await this.flush();
  }

  // ------------------------------------------------------------ v2: replies

  /** The composer quotes `message` (a reply draft per conversation, in `state.replying`). */
  startReply(conversationId: Id, message: Message): void {
    this.store.dispatch({ type: "reply:start", conversation_id: conversationId, message });
  }

  cancelReply(conversationId: Id): void {
    this.store.dispatch({ type: "reply:cancel", conversation_id: conversationId });
  }

  replyingTo(conversationId: Id): ReplyPreview | null {
    return this.state.replying[String(conversationId)] ?? null;
  }

  /**
   * Makes sure the message at `seq` is held, for a jump to a quoted original: when it is not,
   * one page of history around it is fetched (`before=seq+AROUND_AFTER`, so the page ends a
   * little after it). Older pages above it come from reverse scrolling as usual; the hole it
   * may leave below it is filled by `fillHole` as the reader scrolls into it. Resolves with
   * the message, or null when the server has no such seq.
   */
  async loadAround(conversationId: Id, seq: number): Promise<Message | null> {
    const held = this.heldAt(conversationId, seq);
    if (held) return held;
    const page = await this.rest.messages(conversationId, { before: seq + AROUND_AFTER, limit: HISTORY_PAGE });
    this.store.dispatch({ type: "history:loaded", conversation_id: conversationId, messages: page.messages, has_more: page.has_more, older: true });
    return this.heldAt(conversationId, seq);
  }

  /**
   * Loads into a hole of held history (see `holes()`): "down" pages forward from the message
   * below it (`after=`), "up" backwards from the one above it (`before=`), so whichever side
   * the reader scrolls in from fills first.
   */
  async fillHole(conversationId: Id, hole: Hole, direction: "up" | "down"): Promise<void> {
    const page = direction === "down"
      ? await this.rest.messages(conversationId, { after: hole.after, limit: HISTORY_PAGE })
      : await this.rest.messages(conversationId, { before: hole.before, limit: HISTORY_PAGE });
    this.store.dispatch({ type: "history:loaded", conversation_id: conversationId, messages: page.messages, has_more: page.has_more, older: false });
  }

  private heldAt(conversationId: Id, seq: number): Message | null {
    return this.state.conversations[String(conversationId)]?.messages.find((m) => m.seq === seq) ?? null;
  }

  /** Resends queued entries with their original client_id; schedules a retry on transient failure. */
  async flush(): Promise<void> {
    // Uploads are plain REST: they need the network, not the socket.
    if (this.session && this.uploads.pending) void this.uploads.run();
    if (!this.transport.connected || this.outbox.size === 0) return;
    try {
      await this.outbox.flush(
        (e) => this.sendOnce(e),
        (m) => this.store.dispatch({ type: "message:acked", message: m }),
      );
      this.retry.reset();
    } catch (e) {
      this.report(e);
      this.scheduleRetry(e);
    }
  }

  /** One `message:send`; overridable in tests to simulate a lost ack. */
  protected async sendOnce(entry: OutboxEntry): Promise<Message> {
    const payload: SendPayload = { conversation_id: entry.conversation_id, body: entry.body, client_id: entry.client_id };
    if (entry.reply_to) payload.reply_to = entry.reply_to.id;
    if (entry.attachments?.length) payload.attachments = entry.attachments.map((a) => a.upload!.id);
    try {
      return (await this.transport.request<{ message: Message }>("message:send", payload)).message;
    } catch (e) {
      if (e instanceof ChatError && e.code === "validation_error" && e.fields?.attachments && entry.attachments?.length && !entry.reuploaded) {
        // Uploads never attached are purged after 24 h: one that waited longer is gone. The
        // bytes are still here, so upload them again (once) and send with the same client_id.
        await this.outbox.update(entry.client_id, (x) => ({ ...x, reuploaded: true, attachments: (x.attachments ?? []).map((a) => ({ ...a, upload: null })) }));
        void this.uploads.run(); // its last upload sends it again (onReady)
        throw new ChatError("network", "attachments expired on the server: uploading them again");
      }
      // The quoted message was deleted while this reply waited (offline): the server refuses
      // the quote, and nothing was stored. The text still goes, as a plain message, with the
      // same client_id; the quote it had is dropped from the entry too.
      if (!entry.reply_to || !(e instanceof ChatError) || e.code !== "validation_error" || !e.fields?.reply_to) throw e;
      await this.outbox.update(entry.client_id, (x) => ({ ...x, reply_to: null }));
      const plain: SendPayload = { conversation_id: payload.conversation_id, body: payload.body, client_id: payload.client_id };
      if (payload.attachments) plain.attachments = payload.attachments;
      return (await this.transport.request<{ message: Message }>("message:send", plain)).message;
    }
  }

  private scheduleRetry(e: unknown): void {
    if (this.retryTimer || !isTransient(e)) return;
    const after = e instanceof ChatError && e.retryAfter ? e.retryAfter * 1000 : this.retry.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flush();
    }, after);
  }

  // ------------------------------------------------------------ history and conversations

  async loadConversations(): Promise<void> {
    const all: Conversation[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 20; page++) {
      const res: { conversations: Conversation[]; next_cursor: string | null } = await this.rest.listConversations(cursor);
      all.push(...res.conversations);
      cursor = res.next_cursor;
      if (!cursor) break;
    }
    this.store.dispatch({ type: "conversations:loaded", conversations: all });
  }

  /** Members' current presence (REST), without touching anything versioned. */
  async refreshPresence(): Promise<void> {
    try {
      const users: User[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 20; page++) {
        const res: { conversations: Conversation[]; next_cursor: string | null } = await this.rest.listConversations(cursor);
        for (const c of res.conversations) users.push(...(c.members ?? []));
        cursor = res.next_cursor;
        if (!cursor) break;
      }
      this.store.dispatch({ type: "presence:loaded", users });
    } catch (e) {
      this.report(e);
    }
  }

  async refreshConversation(id: Id): Promise<Conversation | null> {
    try {
      const c = await this.rest.getConversation(id);
      this.store.dispatch({ type: "conversations:loaded", conversations: [c] });
      return c;
    } catch (e) {
      this.report(e);
      return null;
    }
  }

  /** Latest page of a conversation (when opening it). */
  async openConversation(id: Id): Promise<void> {
    if (!this.state.conversations[String(id)]?.conversation) await this.refreshConversation(id);
    const page = await this.rest.messages(id, { limit: 50 });
    this.store.dispatch({ type: "history:loaded", conversation_id: id, messages: page.messages, has_more: page.has_more, older: false });
    this.afterMessages(page.messages);
  }

  /** The page before the oldest held message (reverse infinite scroll); false when none is left. */
  async loadOlder(id: Id): Promise<boolean> {
    const c = this.state.conversations[String(id)];
    const oldest = c?.messages[0]?.seq;
    if (!c || !c.has_older || oldest === undefined || oldest <= 1) return false;
    const page = await this.rest.messages(id, { before: oldest, limit: 50 });
    this.store.dispatch({ type: "history:loaded", conversation_id: id, messages: page.messages, has_more: page.has_more, older: true });
    return page.messages.length > 0;
  }

  // ------------------------------------------------------------ actions

  async editMessage(id: Id, body: string): Promise<Message> {
    const m = this.transport.connected
      ? (await this.transport.request<{ message: Message }>("message:edit", { message_id: id, body })).message
      : await this.rest.editMessage(id, body);
    this.store.dispatch({ type: "message:updated", payload: { message: m }, at: this.now() });
    return m;
  }

  async deleteMessage(m: Message): Promise<void> {
    if (this.transport.connected) await this.transport.request("message:delete", { message_id: m.id });
    else await this.rest.deleteMessage(m.id);
    this.store.dispatch({
      type: "message:deleted",
      payload: { conversation_id: m.conversation_id, message_id: m.id, seq: m.seq },
      at: this.now(),
    });
  }

  /** Adds our reaction, or removes it when we already reacted with that emoji. */
  async toggleReaction(m: Message, emoji: string): Promise<Message> {
    const mine = this.me && (m.reactions[emoji] ?? []).includes(this.me.id);
    const updated = mine ? await this.rest.unreact(m.id, emoji) : await this.rest.react(m.id, emoji);
    this.store.dispatch({ type: "message:updated", payload: { message: updated }, at: this.now() });
    return updated;
  }

  /**
   * Typing indicator: `true` at most every 3 s while typing (the server's expires_in_ms
   * keeps it alive between), `false` once when the user stops.
   */
  setTyping(conversationId: Id, typing: boolean): void {
    if (!this.transport.connected) return;
    const key = String(conversationId);
    const last = this.typingSentAt[key] ?? 0;
    if (typing && this.now() - last < 3_000) return;
    if (!typing && last === 0) return;
    this.typingSentAt[key] = typing ? this.now() : 0;
    this.transport.request("typing", { conversation_id: conversationId, typing }).catch(() => undefined);
  }

  /** Marks everything held in the conversation as read, if that moves our position. */
  async markRead(conversationId: Id): Promise<void> {
    const c = this.state.conversations[String(conversationId)];
    const seq = c?.messages[c.messages.length - 1]?.seq ?? c?.last_seq ?? 0;
    if (!c || seq <= c.last_read_seq && c.unread_count === 0) return;
    try {
      const res = this.transport.connected
        ? await this.transport.request<{ last_read_seq: number; unread_count: number }>("read", { conversation_id: conversationId, seq })
        : await this.rest.markRead(conversationId, seq);
      this.store.dispatch({ type: "read:acked", conversation_id: conversationId, last_read_seq: res.last_read_seq, unread_count: res.unread_count });
    } catch (e) {
      this.report(e);
    }
  }

  /**
   * The `delivered` receipt, sent the moment a message of someone else arrives, whichever
   * conversation it is in (on screen or not): besides the ticks, a v2 server holds the push
   * for that message back when a device acknowledged it (PUSH_DELAY_SECONDS, 2 s by default),
   * so an open app is not also buzzed by a notification.
   */
  private async sendDelivered(conversationId: Id, seq: number): Promise<void> {
    const key = String(conversationId);
    const before = this.deliveredSent[key] ?? 0;
    if (this.deliveredUnsupported || !this.transport.connected || before >= seq) return;
    this.deliveredSent[key] = seq;
    try {
      await this.transport.request("delivered", { conversation_id: conversationId, seq }, 5_000);
    } catch (e) {
      // Not acknowledged: let the next message or catch-up send it again.
      if (this.deliveredSent[key] === seq) this.deliveredSent[key] = before;
      // A v1 server without the handler never acks: stop asking for this session. A v2 server
      // has it (the contract), so a slow answer there is only a slow network.
      if (e instanceof ChatError && e.code === "timeout" && this.syncV2 !== true) this.deliveredUnsupported = true;
    }
  }

  // ------------------------------------------------------------ v2: notifications

  /** The caller's level and mute in one conversation; the answer is applied at once. */
  async updateSettings(conversationId: Id, changes: SettingsChange): Promise<Conversation> {
    const c = await this.rest.updateSettings(conversationId, changes);
    this.store.dispatch({ type: "conversations:loaded", conversations: [c] });
    return c;
  }

  /** Mutes for 1 hour, 8 hours, 1 week or always (a far-future `muted_until`). */
  mute(conversationId: Id, choice: MuteChoice): Promise<Conversation> {
    return this.updateSettings(conversationId, { muted_until: muteUntil(choice, this.now()) });
  }

  unmute(conversationId: Id): Promise<Conversation> {
    return this.updateSettings(conversationId, { muted_until: null });
  }

  /** The server's VAPID key for `PushManager.subscribe`. */
  pushConfig(): Promise<PushConfig> {
    return this.rest.pushConfig();
  }

  /**
   * Registers this device for pushes: a Web Push subscription (the PWA) or an FCM token
   * (React Native, Flutter). Idempotent: the same endpoint or token keeps its id, so calling
   * it on every start (and on a token refresh) is the way to stay registered. Revoking the
   * token (logout) deletes it on the server.
   */
  registerPush(sub: PushSubscriptionRequest): Promise<PushSubscriptionInfo> {
    return this.rest.subscribePush(sub);
  }

  // ------------------------------------------------------------ v2: search

  /** A search box's state and paging (`conversationId`: only that conversation). */
  messageSearch(conversationId: Id | null = null): MessageSearch {
    return new MessageSearch(this.rest, conversationId);
  }

  // ------------------------------------------------------------ v2: account and safety

  /** A new display name; the answer is applied at once (others get `user:updated`). */
  async updateProfile(displayName: string): Promise<User> {
    const user = await this.rest.updateMe({ display_name: displayName.trim() });
    this.store.dispatch({ type: "user:updated", payload: { user }, at: this.now() });
    this.adoptMe(user);
    return user;
  }

  /**
   * Changes the password; this device stays signed in, every other login of the account is
   * signed out by the server. A wrong current password is ChatError `forbidden`.
   */
  changePassword(current: string, next: string): Promise<void> {
    return this.rest.changePassword(current, next);
  }

  /** Closes the account (password required; `forbidden` when wrong), then forgets it here. */
  async closeAccount(password: string): Promise<void> {
    this.leaving = this.session?.token ?? null;
    try {
      await this.rest.deleteMe(password);
    } catch (e) {
      this.leaving = null;
      throw e;
    }
    await this.forget();
  }

  /** Everything the server holds that the user wrote or registered (`GET /me/export`). */
  exportData(): Promise<AccountExport> {
    return this.rest.exportData();
  }

  /** The account's logins; `current` is this device. */
  devices(): Promise<Token[]> {
    return this.rest.tokens();
  }

  /** Signs one device out (its sockets are disconnected by the server). */
  revokeDevice(tokenId: Id): Promise<void> {
    return this.rest.revokeToken(tokenId);
  }

  /** The users this account blocked, into `state.blocked`. A server without blocks leaves it empty. */
  async loadBlocks(): Promise<User[]> {
    try {
      const users = await this.rest.blocks();
      this.store.dispatch({ type: "blocks:loaded", users });
      return users;
    } catch (e) {
      if (!(e instanceof ChatError && e.code === "not_found")) this.report(e);
      return Object.values(this.state.blocked);
    }
  }

  /**
   * Blocks a user: neither can then open a direct conversation with the other or send in
   * theirs, nor sees the other's presence or typing; group messages still flow.
   */
  async block(user: User): Promise<void> {
    await this.rest.block(user.id);
    this.store.dispatch({ type: "block:set", user, blocked: true });
  }

  async unblock(user: User): Promise<void> {
    await this.rest.unblock(user.id);
    this.store.dispatch({ type: "block:set", user, blocked: false });
  }

  isBlocked(userId: Id): boolean {
    return String(userId) in this.state.blocked;
  }

  /** Reports a message to the operators; `reason` is 1-1000 characters. */
  reportMessage(messageId: Id, reason: string): Promise<{ id: Id }> {
    return this.rest.report(messageId, reason.trim());
  }

  async startDirect(userId: Id): Promise<Conversation> {
    return this.adoptConversation(await this.rest.createDirect(userId));
  }

  async createGroup(name: string, memberIds: Id[], visibility: "private" | "public" = "private"): Promise<Conversation> {
    return this.adoptConversation(await this.rest.createGroup(name, memberIds, visibility));
  }

  async joinRoom(id: Id): Promise<Conversation> {
    return this.adoptConversation(await this.rest.join(id));
  }

  async addMember(conversationId: Id, userId: Id): Promise<Conversation> {
    return this.adoptConversation(await this.rest.addMember(conversationId, userId));
  }

  async removeMember(conversationId: Id, userId: Id): Promise<void> {
    await this.rest.removeMember(conversationId, userId);
    if (userId === this.me?.id) this.store.dispatch({ type: "conversation:removed", conversation_id: conversationId });
    else await this.refreshConversation(conversationId);
  }

  private adoptConversation(c: Conversation): Conversation {
    this.store.dispatch({ type: "conversations:loaded", conversations: [c] });
    // v2: a REST copy vouches for no version; the next sync brings it whole and from then on
    // it catches up like the others. Ask now rather than at the next reconnect.
    if (this.syncV2 && this.state.conversations[String(c.id)]?.version === null) void this.sync();
    return c;
  }

  private report(e: unknown): void {
    for (const fn of this.errorFns) fn(e);
  }
}

/**
 * What to send for the next page. The server's own `cursors` / `versions` (an extension of
 * this server) are exactly that; without them the contract's rule applies: cursors to the
 * highest seq received, versions to the highest version received, a conversation new to the
 * client at the cursor and version of the object received (its history comes over REST),
 * removed ones dropped.
 */
export function nextSyncRequest(
  req: { cursors: Record<string, number>; versions: Record<string, number> },
  ack: SyncAck,
): { cursors: Record<string, number>; versions: Record<string, number> } {
  if (ack.cursors && ack.versions) return { cursors: { ...ack.cursors }, versions: { ...ack.versions } };
  const cursors = { ...req.cursors };
  const versions = { ...req.versions };
  for (const c of ack.conversations ?? []) {
    const key = String(c.id);
    if (!(key in cursors)) cursors[key] = c.last_seq;
    if (!(key in versions) && typeof c.version === "number") versions[key] = c.version;
  }
  for (const m of ack.messages ?? []) {
    const key = String(m.conversation_id);
    cursors[key] = Math.max(cursors[key] ?? 0, m.seq);
  }
  for (const m of [...(ack.changes ?? []), ...(ack.messages ?? [])]) {
    const key = String(m.conversation_id);
    if (typeof m.version === "number" && key in versions) versions[key] = Math.max(versions[key], m.version);
  }
  for (const id of ack.removed ?? []) {
    delete cursors[String(id)];
    delete versions[String(id)];
  }
  return { cursors, versions };
}
