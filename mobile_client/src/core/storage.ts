/**
 * Async key-value storage. The shape is exactly React Native's AsyncStorage
 * (`@react-native-async-storage/async-storage`), so RN passes AsyncStorage as is;
 * the web passes a localStorage wrapper (src/platform/webStorage.ts).
 */
export interface StorageAdapter {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/** For tests and for hosts without persistence. */
export class MemoryStorage implements StorageAdapter {
  readonly data = new Map<string, string>();

  async getItem(key: string): Promise<string | null> {
    return this.data.has(key) ? (this.data.get(key) as string) : null;
  }
  async setItem(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }
  async removeItem(key: string): Promise<void> {
    this.data.delete(key);
  }
}

/** Reads JSON, treating corrupt or missing data as `fallback` (a bad write must not brick the app). */
export async function readJson<T>(storage: StorageAdapter, key: string, fallback: T): Promise<T> {
  try {
    const raw = await storage.getItem(key);
    return raw == null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}
