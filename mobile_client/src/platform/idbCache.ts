import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { CacheBatch, CacheMeta, CacheSnapshot, CachedConversation, ChatCache } from "../core/cache";
import type { StorageAdapter } from "../core/storage";
import { IdbFileStore } from "./idbFiles";

/**
 * The web's offline-first store: IndexedDB through `idb` (a thin promise wrapper).
 *
 * - `conversations`: one record per conversation (object, cursor, version, latest messages),
 *   written in one transaction per batch, so a cold start never sees half a catch-up;
 * - `meta`: whose cache it is and the total unread count;
 * - `kv`: the StorageAdapter for the session and the outbox, so an outbox entry and the
 *   messages it will settle live in the same database;
 * - `files` (v2): the bytes of attachments waiting in the outbox, as Blobs (idbFiles.ts).
 *
 * IndexedDB can be missing or refused (some private modes): `openWebStore` then rejects and
 * the caller falls back to localStorage and no cache.
 */
export interface ChatDB extends DBSchema {
  conversations: { key: number; value: CachedConversation };
  meta: { key: string; value: CacheMeta };
  kv: { key: string; value: string };
  files: { key: string; value: StoredFile };
}

/** A pending attachment's record: the Blob itself (IndexedDB stores Blobs natively) and its description. */
export interface StoredFile {
  data: Blob;
  name: string;
  type: string;
  size: number;
  width: number | null;
  height: number | null;
}

const DB_NAME = "chat";
/** 2: the `files` store (v2 attachments). Upgrades keep the stores that exist. */
const DB_VERSION = 2;

export class IdbCache implements ChatCache {
  constructor(private readonly db: IDBPDatabase<ChatDB>) {}

  async load(): Promise<CacheSnapshot> {
    const tx = this.db.transaction(["meta", "conversations"], "readonly");
    const [meta, conversations] = await Promise.all([tx.objectStore("meta").get("meta"), tx.objectStore("conversations").getAll()]);
    await tx.done;
    return { meta: meta ?? null, conversations };
  }

  async write(batch: CacheBatch): Promise<void> {
    const tx = this.db.transaction(["meta", "conversations"], "readwrite");
    const convs = tx.objectStore("conversations");
    const pending: Promise<unknown>[] = batch.put.map((c) => convs.put(c));
    for (const id of batch.remove) pending.push(convs.delete(id));
    pending.push(tx.objectStore("meta").put(batch.meta, "meta"));
    await Promise.all([...pending, tx.done]);
  }

  async clear(): Promise<void> {
    const tx = this.db.transaction(["meta", "conversations"], "readwrite");
    await Promise.all([tx.objectStore("meta").clear(), tx.objectStore("conversations").clear(), tx.done]);
  }
}

/**
 * StorageAdapter over the `kv` store. Keys written by earlier versions to localStorage
 * (session, outbox) are read from there once and moved, so an update neither signs the
 * user out nor loses a queued message.
 */
export class IdbStorage implements StorageAdapter {
  constructor(
    private readonly db: IDBPDatabase<ChatDB>,
    private readonly legacy: Storage | null = safeLocalStorage(),
  ) {}

  async getItem(key: string): Promise<string | null> {
    const value = await this.db.get("kv", key);
    if (value !== undefined) return value;
    const old = this.legacyGet(key);
    if (old !== null) {
      await this.db.put("kv", old, key);
      this.legacyRemove(key);
    }
    return old;
  }

  async setItem(key: string, value: string): Promise<void> {
    await this.db.put("kv", value, key);
  }

  async removeItem(key: string): Promise<void> {
    await this.db.delete("kv", key);
    this.legacyRemove(key);
  }

  private legacyGet(key: string): string | null {
    try {
      return this.legacy?.getItem(key) ?? null;
    } catch {
      return null;
    }
  }

  private legacyRemove(key: string): void {
    try {
      this.legacy?.removeItem(key);
    } catch {
      // Storage disabled: nothing to migrate anyway.
    }
  }
}

/** Opens (creating on first use) the database; rejects where IndexedDB is unavailable. */
export async function openWebStore(name = DB_NAME): Promise<{ cache: IdbCache; storage: IdbStorage; files: IdbFileStore; db: IDBPDatabase<ChatDB> }> {
  if (typeof indexedDB === "undefined") throw new Error("IndexedDB is not available");
  const db = await openDB<ChatDB>(name, DB_VERSION, {
    upgrade(db) {
      if (!db.objectStoreNames.contains("conversations")) db.createObjectStore("conversations", { keyPath: "id" });
      if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
      if (!db.objectStoreNames.contains("kv")) db.createObjectStore("kv");
      if (!db.objectStoreNames.contains("files")) db.createObjectStore("files");
    },
    // Another tab still on the old version must let this one upgrade: it closes and reloads.
    blocking() {
      db.close();
      if (typeof location !== "undefined") location.reload();
    },
  });
  return { cache: new IdbCache(db), storage: new IdbStorage(db), files: new IdbFileStore(db), db };
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}
