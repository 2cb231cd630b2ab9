import { io } from "socket.io-client";
import { ChatClient } from "../../src/core/client";
import { MemoryStorage, type StorageAdapter } from "../../src/core/storage";

export const CHAT_URL = process.env.CHAT_URL ?? "";

const run = Date.now().toString(36).slice(-5);
let n = 0;

/** A unique, contract-valid username per test run. */
export function username(prefix: string): string {
  return `${prefix}_${run}_${++n}`.toLowerCase();
}

/** A core client against the real server, with fast reconnection for tests. */
export function makeClient(storage: StorageAdapter = new MemoryStorage(), syncLimit?: number): ChatClient {
  return new ChatClient({
    baseUrl: CHAT_URL,
    storage,
    syncLimit,
    io: io,
    transport: { ackTimeoutMs: 5_000, options: { reconnectionDelay: 100, reconnectionDelayMax: 500 } },
  });
}

export async function registered(prefix: string, storage?: StorageAdapter, syncLimit?: number): Promise<ChatClient> {
  const c = makeClient(storage, syncLimit);
  await c.register(username(prefix), "password-123", `${prefix} test`);
  return c;
}

/** Waits until `check` stops throwing / returns truthy. */
export async function until<T>(check: () => T, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}${last ? `: ${last instanceof Error ? String(last) : JSON.stringify(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Connects and waits for the whole connect sequence (ready, conversations, sync). */
export async function connected(c: ChatClient): Promise<void> {
  const before = c.readyCount;
  c.connect();
  await until(() => c.state.connection === "connected" && c.readyCount > before, 10_000, "connected + ready");
}
