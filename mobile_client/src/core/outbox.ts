import { isTransient } from "./errors";
import { readJson, type StorageAdapter } from "./storage";
import type { Attachment } from "./attachments";
import type { Id, Message, ReplyPreview } from "./types";
import { uuidv4 } from "./uuid";

/** v2: a file of a message not sent yet; its bytes wait in the FileStore under `key`. */
export interface PendingAttachment {
  key: string;
  name: string;
  /** The picker's type (a hint: the server finds the real one from the bytes). */
  type: string;
  size: number;
  width?: number | null;
  height?: number | null;
  /** Set once uploaded (persisted: a restart does not upload it again). */
  upload?: Attachment | null;
  /** Why the server refused it (the message is failed until it is removed or retried). */
  error?: string;
}

export interface OutboxEntry {
  client_id: string;
  conversation_id: Id;
  body: string;
  created_at: string;
  attempts: number;
  /** v2: the message this one replies to, as quoted when it was written (sent as `reply_to: id`). */
  reply_to?: ReplyPreview | null;
  /** v2: files to upload before the message is sent (its `attachments: [upload id]`). */
  attachments?: PendingAttachment[];
  /** Its uploads were done again once after the server had purged them (never twice). */
  reuploaded?: boolean;
  /** queued: waiting to (re)send; failed: the server refused it for good (shown with retry/discard). */
  state: "queued" | "failed";
  error?: string;
  /** The refusal's code (`forbidden`: blocked, or no longer allowed to post there). */
  error_code?: string;
}

export type Sender = (entry: OutboxEntry) => Promise<Message>;

/**
 * Messages written but not yet acknowledged, persisted so they survive reloads and app kills.
 * The `client_id` is minted once and reused on every resend: the server answers a repeat
 * with the original message, so a lost ack can never create a second message.
 */
export class Outbox {
  private entries: OutboxEntry[] = [];
  private flushing: Promise<void> | null = null;
  /** Whether an entry may be sent now; the client says no while its uploads are unfinished. */
  isReady: (e: OutboxEntry) => boolean = () => true;
  private listeners = new Set<() => void>();

  constructor(
    private readonly storage: StorageAdapter,
    private readonly key = "chat.outbox",
    private readonly newId: () => string = uuidv4,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async load(): Promise<void> {
    const saved = await readJson<OutboxEntry[]>(this.storage, this.key, []);
    const known = new Set(this.entries.map((e) => e.client_id));
    this.entries = [...this.entries, ...(Array.isArray(saved) ? saved : []).filter((e) => !known.has(e.client_id))];
    this.emit();
  }

  list(conversationId?: Id): OutboxEntry[] {
    return conversationId === undefined ? [...this.entries] : this.entries.filter((e) => e.conversation_id === conversationId);
  }

  has(clientId: string): boolean {
    return this.entries.some((e) => e.client_id === clientId);
  }

  get size(): number {
    return this.entries.length;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Queues a message and persists it before returning, so a crash right after still keeps it. */
  async enqueue(conversationId: Id, body: string, extra: Pick<OutboxEntry, "reply_to" | "attachments"> = {}): Promise<OutboxEntry> {
    const entry: OutboxEntry = {
      client_id: this.newId(),
      conversation_id: conversationId,
      body,
      created_at: this.now().toISOString(),
      attempts: 0,
      state: "queued",
      ...(extra.reply_to ? { reply_to: extra.reply_to } : {}),
      ...(extra.attachments?.length ? { attachments: extra.attachments } : {}),
    };
    this.entries.push(entry);
    await this.save();
    return entry;
  }

  /** The server has the message (ack, echo or sync carried our client_id): forget it. */
  async acknowledge(clientId: string): Promise<boolean> {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.client_id !== clientId);
    if (this.entries.length === before) return false;
    await this.save();
    return true;
  }

  /** Rewrites one entry (persisted before resolving); false when it is gone (acknowledged, discarded). */
  async update(clientId: string, fn: (e: OutboxEntry) => OutboxEntry): Promise<boolean> {
    const i = this.entries.findIndex((e) => e.client_id === clientId);
    if (i < 0) return false;
    this.entries[i] = fn(this.entries[i]);
    await this.save();
    return true;
  }

  get(clientId: string): OutboxEntry | undefined {
    return this.entries.find((e) => e.client_id === clientId);
  }

  async retry(clientId: string): Promise<void> {
    this.entries = this.entries.map((e) =>
      e.client_id === clientId
        ? { ...e, state: "queued", error: undefined, error_code: undefined, ...(e.attachments ? { attachments: e.attachments.map((a) => ({ ...a, error: undefined })) } : {}) }
        : e,
    );
    await this.save();
  }

  async discard(clientId: string): Promise<void> {
    await this.acknowledge(clientId);
  }

  /**
   * Sends queued entries in order, one at a time (keeps per-conversation order).
   * Stops at the first transient failure (offline, timeout) and leaves the rest queued;
   * a permanent refusal marks that entry failed and moves on. Resolves with the acked messages.
   * Concurrent calls share one run, so two triggers never double-send an entry at once.
   */
  flush(send: Sender, onAck?: (m: Message, e: OutboxEntry) => void): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.runFlush(send, onAck).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async runFlush(send: Sender, onAck?: (m: Message, e: OutboxEntry) => void): Promise<void> {
    for (;;) {
      // An entry still waiting for its uploads (v2 attachments) is passed over, not waited
      // for: a text written after a photo goes out while the photo uploads.
      const entry = this.entries.find((e) => e.state === "queued" && this.isReady(e));
      if (!entry) return;
      entry.attempts++;
      try {
        const message = await send(entry);
        if (this.has(entry.client_id)) await this.acknowledge(entry.client_id);
        onAck?.(message, entry);
      } catch (err) {
        // Discarded while in flight (the user cancelled its last upload): nothing to record.
        const now = this.get(entry.client_id);
        if (!now) continue;
        if (isTransient(err)) {
          await this.save();
          throw err;
        }
        now.state = "failed";
        now.error = (err as Error).message;
        now.error_code = (err as { code?: string }).code;
        await this.save();
      }
    }
  }

  private async save(): Promise<void> {
    this.emit();
    await this.storage.setItem(this.key, JSON.stringify(this.entries));
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}
