import type { Attachment } from "./attachments";
import { ChatError, isTransient } from "./errors";
import type { Outbox, OutboxEntry, PendingAttachment } from "./outbox";

/**
 * v2 attachments, the sending side: files waiting in the outbox are uploaded (`POST /uploads`)
 * before their message is sent, and the message goes out exactly once, after all of its
 * uploads succeeded.
 *
 * - The bytes are persisted in a `FileStore` (IndexedDB on the web, files in React Native)
 *   when the message is written, so a reload or an app kill never loses a queued photo; the
 *   outbox entry (JSON) names them by key and records each finished upload, so an upload
 *   done before a restart is not done again.
 * - One upload at a time, oldest message first (a phone's uplink is the bottleneck). A
 *   message still uploading never holds back a later text: the outbox passes over entries
 *   that are not ready.
 * - Transient failures (offline, 5xx, timeouts) are retried with backoff and on every
 *   reconnect; a refusal (413: too large) fails the message, shown with Retry / Discard, and
 *   its attachments can be removed one by one.
 * - The bytes are deleted once the entry leaves the outbox (acknowledged, discarded, sign-out).
 */

/** A file picked by the user, as the host holds it. */
export interface LocalFile {
  /** The bytes: a Blob or File on the web; whatever the host's uploader reads (a file URI object in React Native). */
  data: unknown;
  name: string;
  /** The picker's type: only a hint for the UI (the server finds the type from the bytes). */
  type: string;
  size: number;
  /** Images: measured on the device, so the queued bubble already has the right shape. */
  width?: number | null;
  height?: number | null;
}

/** Where pending files live until their message is acknowledged. */
export interface FileStore {
  put(key: string, file: LocalFile): Promise<void>;
  get(key: string): Promise<LocalFile | null>;
  delete(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

/** For tests and hosts without persistence (a reload loses pending files: the message then fails). */
export class MemoryFileStore implements FileStore {
  readonly files = new Map<string, LocalFile>();
  async put(key: string, file: LocalFile): Promise<void> {
    this.files.set(key, file);
  }
  async get(key: string): Promise<LocalFile | null> {
    return this.files.get(key) ?? null;
  }
  async delete(key: string): Promise<void> {
    this.files.delete(key);
  }
  async keys(): Promise<string[]> {
    return [...this.files.keys()];
  }
}

/** Lets an uploader abort its request when the user cancels. */
export interface CancelSignal {
  readonly cancelled: boolean;
  onCancel: (fn: () => void) => void;
}

export interface UploadRequest {
  /** Absolute URL of `POST /api/v1/uploads`. */
  url: string;
  /** Bearer token (null: cookie session, same origin). */
  token: string | null;
  file: LocalFile;
  onProgress: (loaded: number, total: number) => void;
  signal: CancelSignal;
}

/**
 * Sends one file as `multipart/form-data` (field `file`) and resolves with the answer's
 * `upload`. Rejects with a ChatError: the contract's code for an error answer, `network` when
 * nothing came back, `cancelled` after `signal` fired.
 */
export type Uploader = (req: UploadRequest) => Promise<Attachment>;

type FormDataLike = { append(name: string, value: unknown, fileName?: string): void };
type FetchForm = (url: string, init: { method: string; headers: Record<string, string>; body: FormDataLike }) => Promise<{ status: number; ok: boolean; text(): Promise<string> }>;

/**
 * The default uploader: `fetch` with `FormData`, which browsers, Node 18+ and React Native all
 * have (RN's FormData takes `{uri, name, type}` as `data`). fetch reports no upload progress,
 * so progress jumps from 0 to done; the PWA passes an XMLHttpRequest uploader instead.
 */
export function fetchUploader(fetchImpl?: FetchForm): Uploader {
  return async ({ url, token, file, onProgress, signal }) => {
    const g = globalThis as unknown as { FormData?: new () => FormDataLike; fetch?: FetchForm };
    // Unbound window.fetch throws "Illegal invocation" in browsers.
    const f: FetchForm | undefined = fetchImpl ?? (g.fetch ? (u, init) => g.fetch!.call(globalThis, u, init) : undefined);
    if (!g.FormData || !f) throw new ChatError("unsupported", "This platform has no FormData or fetch: pass an uploader");
    const form = new g.FormData();
    form.append("file", file.data, file.name);
    onProgress(0, file.size);
    let res;
    try {
      res = await f(url, { method: "POST", headers: token ? { Authorization: `Bearer ${token}`, Accept: "application/json" } : { Accept: "application/json" }, body: form });
    } catch (e) {
      throw new ChatError("network", `Network error: ${(e as Error)?.message ?? String(e)}`);
    }
    if (signal.cancelled) throw new ChatError("cancelled", "Upload cancelled");
    return parseUploadAnswer(res.status, await res.text(), () => onProgress(file.size, file.size));
  };
}

/** The `201 {upload}` answer, or the contract's error envelope as a ChatError. */
export function parseUploadAnswer(status: number, text: string, done?: () => void): Attachment {
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  const upload = (data as { upload?: Attachment } | null)?.upload;
  if (status >= 200 && status < 300 && upload && typeof upload.id === "number") {
    done?.();
    return upload;
  }
  if (status === 413 && !(data as { error?: unknown } | null)?.error) {
    // A proxy in front (nginx client_max_body_size) answers 413 without the envelope.
    throw new ChatError("payload_too_large", "The file is too large", 413);
  }
  throw ChatError.from(data, status);
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface UploadsOptions {
  outbox: Outbox;
  files: FileStore;
  upload: Uploader;
  endpoint: () => { url: string; token: string | null };
  /** An entry's last upload finished: it may be sent now. */
  onReady: () => void;
  onError: (e: unknown) => void;
  /** Transient failure: when to try again (the client's backoff). */
  retryIn: (e: unknown) => number;
  resetRetry: () => void;
}

/** Ready to send: every attachment uploaded (an entry without attachments always is). */
export function uploadsDone(e: OutboxEntry): boolean {
  return (e.attachments ?? []).every((a) => a.upload);
}

export class Uploads {
  private running: Promise<void> | null = null;
  private again = false;
  private retryTimer: unknown = null;
  private readonly progressByKey = new Map<string, UploadProgress>();
  private readonly listeners = new Set<() => void>();
  /** The upload in flight, to abort it on cancel or discard. */
  private current: { clientId: string; key: string; cancel: () => void } | null = null;
  /** Keys the outbox held last time: one that disappears has its bytes deleted. */
  private held = new Set<string>();

  constructor(private readonly o: UploadsOptions) {
    o.outbox.onChange(() => void this.sweep());
  }

  /** Bytes and progress of one pending attachment (for previews and progress bars). */
  progress(key: string): UploadProgress | undefined {
    return this.progressByKey.get(key);
  }

  file(key: string): Promise<LocalFile | null> {
    return this.o.files.get(key);
  }

  /** Keeps a picked file's bytes until its message leaves the outbox. */
  store(key: string, file: LocalFile): Promise<void> {
    return this.o.files.put(key, file);
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Whether anything waits to be uploaded (queued entries only: a failed one waits for Retry). */
  get pending(): boolean {
    return this.o.outbox.list().some((e) => e.state === "queued" && !uploadsDone(e));
  }

  /** Uploads what is pending, oldest message first; single flight (a call during a run asks for another pass). */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        void this.run();
      }
    });
    return this.running;
  }

  /**
   * Removes one attachment from a message that is not sent yet (aborting its upload). A
   * message left with neither text nor attachments is discarded.
   */
  async cancel(clientId: string, key: string): Promise<void> {
    if (this.current?.clientId === clientId && this.current.key === key) this.current.cancel();
    const entry = this.o.outbox.get(clientId);
    if (!entry) return;
    const rest = (entry.attachments ?? []).filter((a) => a.key !== key);
    if (rest.length === 0 && !entry.body) await this.o.outbox.discard(clientId);
    else await this.o.outbox.update(clientId, (e) => ({ ...e, attachments: rest }));
    this.progressByKey.delete(key);
    this.emit();
    this.o.onReady(); // what is left may be ready to send
  }

  /** Forget every upload's progress and stop (sign-out: the outbox is emptied right after). */
  stop(): void {
    this.current?.cancel();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Deletes the bytes of attachments no longer in the outbox, and of files no entry names (a crash between the two writes). */
  async sweepOrphans(): Promise<void> {
    const named = this.keysInOutbox();
    for (const key of await this.o.files.keys()) if (!named.has(key)) await this.o.files.delete(key);
  }

  private keysInOutbox(): Set<string> {
    return new Set(this.o.outbox.list().flatMap((e) => (e.attachments ?? []).map((a) => a.key)));
  }

  private async sweep(): Promise<void> {
    const now = this.keysInOutbox();
    const gone = [...this.held].filter((k) => !now.has(k));
    this.held = now;
    for (const key of gone) {
      if (this.current?.key === key) this.current.cancel();
      this.progressByKey.delete(key);
      try {
        await this.o.files.delete(key);
      } catch (e) {
        this.o.onError(e);
      }
    }
  }

  private next(): { entry: OutboxEntry; attachment: PendingAttachment } | null {
    for (const entry of this.o.outbox.list()) {
      if (entry.state !== "queued") continue;
      const attachment = (entry.attachments ?? []).find((a) => !a.upload);
      if (attachment) return { entry, attachment };
    }
    return null;
  }

  private async loop(): Promise<void> {
    for (;;) {
      const job = this.next();
      if (!job) return;
      const { entry, attachment } = job;
      const file = await this.o.files.get(attachment.key);
      if (!file) {
        await this.fail(entry.client_id, attachment.key, "The file is no longer on this device");
        continue;
      }
      let cancelled = false;
      const cancelFns: (() => void)[] = [];
      const signal: CancelSignal = {
        get cancelled() {
          return cancelled;
        },
        onCancel: (fn) => cancelFns.push(fn),
      };
      this.current = { clientId: entry.client_id, key: attachment.key, cancel: () => ((cancelled = true), cancelFns.forEach((fn) => fn())) };
      this.progressByKey.set(attachment.key, { loaded: 0, total: file.size });
      this.emit();
      try {
        const { url, token } = this.o.endpoint();
        const uploaded = await this.o.upload({
          url,
          token,
          file,
          signal,
          onProgress: (loaded, total) => {
            this.progressByKey.set(attachment.key, { loaded, total: total || file.size });
            this.emit();
          },
        });
        if (cancelled) continue;
        this.o.resetRetry();
        await this.o.outbox.update(entry.client_id, (e) => ({
          ...e,
          attachments: (e.attachments ?? []).map((a) => (a.key === attachment.key ? { ...a, upload: uploaded, error: undefined } : a)),
        }));
        this.progressByKey.set(attachment.key, { loaded: file.size, total: file.size });
        this.emit();
        const now = this.o.outbox.get(entry.client_id);
        if (now && uploadsDone(now)) this.o.onReady();
      } catch (e) {
        if (cancelled || (e instanceof ChatError && e.code === "cancelled")) continue;
        this.progressByKey.delete(attachment.key);
        this.emit();
        if (isTransient(e)) {
          this.o.onError(e);
          this.scheduleRetry(e);
          return;
        }
        await this.fail(entry.client_id, attachment.key, errorMessage(e));
      } finally {
        this.current = null;
      }
    }
  }

  /** A refusal: the message fails (Retry / Discard), the attachment says why. */
  private async fail(clientId: string, key: string, why: string): Promise<void> {
    await this.o.outbox.update(clientId, (e) => ({
      ...e,
      state: "failed",
      error: why,
      attachments: (e.attachments ?? []).map((a) => (a.key === key ? { ...a, error: why } : a)),
    }));
  }

  private scheduleRetry(e: unknown): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.run();
    }, this.o.retryIn(e));
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }
}

function errorMessage(e: unknown): string {
  if (e instanceof ChatError && e.code === "payload_too_large") return "The file is too large to send";
  return (e as Error)?.message ?? String(e);
}
