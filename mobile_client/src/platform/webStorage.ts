import type { StorageAdapter } from "../core/storage";

/**
 * The web's StorageAdapter over localStorage. Failures (private mode, quota) fall back
 * to memory for the session instead of breaking sign-in or the outbox.
 */
export class WebStorage implements StorageAdapter {
  private readonly memory = new Map<string, string>();

  constructor(private readonly backend: Storage | null = safeLocalStorage()) {}

  async getItem(key: string): Promise<string | null> {
    try {
      return this.backend ? this.backend.getItem(key) : (this.memory.get(key) ?? null);
    } catch {
      return this.memory.get(key) ?? null;
    }
  }

  async setItem(key: string, value: string): Promise<void> {
    this.memory.set(key, value);
    try {
      this.backend?.setItem(key, value);
    } catch {
      // Quota or disabled storage: the in-memory copy keeps this session working.
    }
  }

  async removeItem(key: string): Promise<void> {
    this.memory.delete(key);
    try {
      this.backend?.removeItem(key);
    } catch {
      // Same as above.
    }
  }
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}
