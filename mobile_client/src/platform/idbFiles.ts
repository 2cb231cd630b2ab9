import type { IDBPDatabase } from "idb";
import type { FileStore, LocalFile } from "../core/uploads";
import type { ChatDB } from "./idbCache";

/**
 * The web's FileStore: a queued attachment's bytes as a Blob in IndexedDB (`chat` / `files`),
 * so a photo written offline survives a reload, a closed tab and a phone that kills the
 * browser, until its message is acknowledged. A File is a Blob: stored as is, no copy in JS.
 */
export class IdbFileStore implements FileStore {
  constructor(private readonly db: IDBPDatabase<ChatDB>) {}

  async put(key: string, file: LocalFile): Promise<void> {
    if (!(file.data instanceof Blob)) throw new TypeError("IdbFileStore keeps Blobs (a File from an <input type=file> is one)");
    await this.db.put("files", { data: file.data, name: file.name, type: file.type, size: file.size, width: file.width ?? null, height: file.height ?? null }, key);
  }

  async get(key: string): Promise<LocalFile | null> {
    const f = await this.db.get("files", key);
    return f ? { data: f.data, name: f.name, type: f.type, size: f.size, width: f.width, height: f.height } : null;
  }

  async delete(key: string): Promise<void> {
    await this.db.delete("files", key);
  }

  async keys(): Promise<string[]> {
    return (await this.db.getAllKeys("files")).map(String);
  }
}
