import "fake-indexeddb/auto";
import { describe, expect, it, vi } from "vitest";
import { CACHED_MESSAGES_PER_CONVERSATION, StorageCache } from "../../src/core/cache";
import { ChatClient } from "../../src/core/client";
import type { FetchLike } from "../../src/core/rest";
import { sortedConversations } from "../../src/core/selectors";
import { MemoryStorage } from "../../src/core/storage";
import type { Conversation, Message } from "../../src/core/types";
import { openWebStore } from "../../src/platform/idbCache";
import { fakeIo, flush, msg, user, type FakeSocket } from "./fakes";

/** The ChatClient's v2 catch-up and offline cache, against a fake socket and fake REST. */

const me = user(1);

function conv(id: number, extra: Partial<Conversation> = {}): Conversation {
  return {
    id,
    type: "group",
    name: `G${id}`,
    members: [me, user(2)],
    last_seq: 0,
    last_message: null,
    unread_count: 0,
    last_read_seq: 0,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    version: 1,
    ...extra,
  };
}
const vmsg = (id: number, seq: number, version: number, extra: Partial<Message> = {}) => msg(id, seq, { version, ...extra });

function fakeFetch(calls: string[]): FetchLike {
  return async (url, init) => {
    calls.push(`${init.method} ${url.replace("http://srv/api/v1", "")}`);
    let body: unknown = {};
    if (url.includes("/conversations?")) body = { conversations: [conv(1, { members: [me, user(2, { online: true })] })], next_cursor: null };
    else if (url.includes("/messages?")) body = { messages: [], has_more: false };
    else if (url.endsWith("/auth/login")) body = { user: me, token: "tok" };
    return { status: 200, ok: true, text: async () => JSON.stringify(body) };
  };
}

function device(storage = new MemoryStorage(), calls: string[] = []) {
  const io = fakeIo();
  const client = new ChatClient({ baseUrl: "http://srv", storage, fetch: fakeFetch(calls), io: io.factory, syncLimit: 2 });
  return { client, io, calls, storage, socket: () => io.made[0] };
}

function ready(socket: FakeSocket, conversations: { id: number; last_seq: number; version: number }[]) {
  socket.open();
  socket.fire("ready", {
    user: me,
    conversations: conversations.map((c) => ({ ...c, last_read_seq: 0, unread_count: 0 })),
    total_unread: 0,
  });
}

const emptyPage = (extra = {}) => ({ ok: true, messages: [], has_more: false, changes: [], conversations: [], removed: [], cursors: {}, versions: {}, ...extra });

describe("catch-up with versions", () => {
  it("first connect: one sync round (no REST list) brings the list; paged while has_more from the server's cursors", async () => {
    const d = device();
    await d.client.login("me", "password1");
    d.client.connect();
    const pages = [
      emptyPage({ conversations: [conv(1, { last_seq: 3, version: 4 })], messages: [], has_more: true, cursors: { "1": 3 }, versions: { "1": 4 } }),
      emptyPage({ cursors: { "1": 3 }, versions: { "1": 4 } }),
    ];
    const restBeforeSync: string[][] = [];
    d.socket().responders.sync = () => {
      restBeforeSync.push([...d.calls]);
      return pages.shift();
    };
    ready(d.socket(), [{ id: 1, last_seq: 3, version: 4 }]);
    await vi.waitFor(() => expect(d.client.readyCount).toBe(1));
    const syncs = d.socket().sent("sync").map((e) => e.payload);
    // Conversation 1 was only mentioned by ready: left out, so the answer brings it whole.
    expect(syncs).toEqual([
      { cursors: {}, versions: {}, limit: 2 },
      { cursors: { "1": 3 }, versions: { "1": 4 }, limit: 2 },
    ]);
    expect(sortedConversations(d.client.state).map((c) => c.id)).toEqual([1]);
    expect(restBeforeSync).toEqual([["POST /auth/login"], ["POST /auth/login"]]);
    // Presence is the one thing refreshed over REST, after catch-up, in the background.
    await vi.waitFor(() => expect(d.client.state.users["2"].online).toBe(true));
  });

  it("reconnect: held cursors and versions go out, changes and removals apply, and `resync` asks again", async () => {
    const d = device();
    await d.client.login("me", "password1");
    d.client.connect();
    d.socket().responders.sync = () =>
      emptyPage({
        conversations: [conv(1, { last_seq: 2, version: 5 }), conv(2, { last_seq: 1, version: 2 })],
        messages: [vmsg(11, 1, 2), vmsg(12, 2, 3), vmsg(21, 1, 2, { conversation_id: 2 })],
        cursors: { "1": 2, "2": 1 },
        versions: { "1": 5, "2": 2 },
      });
    ready(d.socket(), [{ id: 1, last_seq: 2, version: 5 }, { id: 2, last_seq: 1, version: 2 }]);
    await vi.waitFor(() => expect(d.client.readyCount).toBe(1));

    d.socket().drop();
    d.socket().responders.sync = () =>
      emptyPage({
        changes: [vmsg(12, 2, 6, { deleted: true, body: "" })],
        conversations: [conv(1, { last_seq: 2, version: 6, name: "Renamed" })],
        removed: [2],
        cursors: { "1": 2 },
        versions: { "1": 6 },
      });
    ready(d.socket(), [{ id: 1, last_seq: 2, version: 6 }, { id: 2, last_seq: 1, version: 2 }]);
    await vi.waitFor(() => expect(d.client.readyCount).toBe(2));
    expect(d.socket().sent("sync")[1].payload).toEqual({ cursors: { "1": 2, "2": 1 }, versions: { "1": 5, "2": 2 }, limit: 2 });
    const c1 = d.client.state.conversations["1"];
    expect(c1.messages.find((m) => m.id === 12)).toMatchObject({ deleted: true, body: "" });
    expect(c1.conversation?.name).toBe("Renamed");
    expect(d.client.state.conversations["2"]).toBeUndefined();

    d.socket().responders.sync = () => emptyPage({ cursors: { "1": 2 }, versions: { "1": 6 } });
    d.socket().fire("resync", { reason: "message_queue_reconnected" });
    await vi.waitFor(() => expect(d.socket().sent("sync")).toHaveLength(3));
    expect(d.socket().sent("sync")[2].payload).toEqual({ cursors: { "1": 2 }, versions: { "1": 6 }, limit: 2 });
  });

  it("a v1 server (no versions in ready, no changes in the ack) gets the v1 recipe: REST list, then cursors only", async () => {
    const d = device();
    await d.client.login("me", "password1");
    d.client.connect();
    d.socket().responders.sync = () => ({ ok: true, messages: [], has_more: false });
    d.socket().open();
    d.socket().fire("ready", { user: me, conversations: [{ id: 1, last_seq: 3, last_read_seq: 0, unread_count: 0 }], total_unread: 0 });
    await vi.waitFor(() => expect(d.client.readyCount).toBe(1));
    expect(d.socket().sent("sync").map((e) => e.payload)).toEqual([{ cursors: { "1": 3 }, limit: 2 }]);
    expect(d.calls).toContain("GET /conversations?limit=50");
  });
});

describe("offline cache", () => {
  async function caughtUp(storage: MemoryStorage, messages: Message[]) {
    const d = device(storage);
    await d.client.login("me", "password1");
    d.client.connect();
    const last = messages[messages.length - 1];
    d.socket().responders.sync = () =>
      emptyPage({
        conversations: [conv(1, { last_seq: last.seq, version: last.version, last_message: last })],
        messages,
        cursors: { "1": last.seq },
        versions: { "1": last.version },
      });
    ready(d.socket(), [{ id: 1, last_seq: last.seq, version: last.version! }]);
    await vi.waitFor(() => expect(d.client.readyCount).toBe(1));
    await d.client.cacheIdle();
    d.client.disconnect();
    return d;
  }

  it("a cold start shows the list and recent messages before connecting, and catches up from the cached cursor and version", async () => {
    const storage = new MemoryStorage();
    await caughtUp(storage, [vmsg(1, 1, 1), vmsg(2, 2, 2)]);

    const again = device(storage);
    expect(await again.client.restore()).toBe(true);
    // No socket, no REST yet: the store already holds what the screen needs.
    expect(again.calls).toEqual([]);
    expect(sortedConversations(again.client.state).map((c) => c.conversation?.name)).toEqual(["G1"]);
    expect(again.client.state.conversations["1"].messages.map((m) => m.body)).toEqual(["m1", "m2"]);

    again.client.connect();
    again.socket().responders.sync = () => emptyPage({ changes: [vmsg(2, 2, 3, { deleted: true, body: "" })], cursors: { "1": 2 }, versions: { "1": 3 } });
    ready(again.socket(), [{ id: 1, last_seq: 2, version: 3 }]);
    await vi.waitFor(() => expect(again.client.readyCount).toBe(1));
    expect(again.socket().sent("sync").map((e) => e.payload)).toEqual([{ cursors: { "1": 2 }, versions: { "1": 2 }, limit: 2 }]);
    expect(again.client.state.conversations["1"].messages[1]).toMatchObject({ deleted: true, body: "" });
    // And the deletion is cached too.
    await again.client.cacheIdle();
    const snap = await new StorageCache(storage).load();
    expect(snap.conversations[0]).toMatchObject({ version: 3 });
    expect(snap.conversations[0].messages[1].deleted).toBe(true);
  });

  it(`keeps the latest ${CACHED_MESSAGES_PER_CONVERSATION} messages of a conversation, and remembers there is older history`, async () => {
    const storage = new MemoryStorage();
    const many = Array.from({ length: 130 }, (_, i) => vmsg(i + 1, i + 1, i + 1));
    await caughtUp(storage, many);
    const snap = await new StorageCache(storage).load();
    expect(snap.conversations[0].messages).toHaveLength(CACHED_MESSAGES_PER_CONVERSATION);
    expect(snap.conversations[0].messages[0].seq).toBe(31);
    expect(snap.conversations[0]).toMatchObject({ cursor: 130, version: 130, has_older: true });
  });

  it("sign-out clears it; another account never sees it", async () => {
    const storage = new MemoryStorage();
    const d = await caughtUp(storage, [vmsg(1, 1, 1)]);
    await d.client.logout();
    expect((await new StorageCache(storage).load()).conversations).toEqual([]);

    await caughtUp(storage, [vmsg(1, 1, 1)]);
    // A session of user 7 on the same storage (as if the stored token were theirs).
    await storage.setItem("chat.session", JSON.stringify({ token: "t7", user: user(7) }));
    const other = device(storage);
    await other.client.restore();
    expect(other.client.state.conversations).toEqual({});
    expect((await new StorageCache(storage).load()).conversations).toEqual([]);
  });
});

describe("IndexedDB store (web)", () => {
  it("round-trips a batch in one transaction, removes, clears; the kv store moves legacy localStorage keys", async () => {
    const web = await openWebStore(`test-${Math.random()}`);
    const record = {
      id: 1,
      conversation: conv(1),
      cursor: 2,
      version: 5,
      last_seq: 2,
      last_read_seq: 0,
      unread_count: 0,
      has_older: false,
      read_by: {},
      delivered_by: {},
      activity_at: "",
      messages: [vmsg(1, 1, 1)],
    };
    await web.cache.write({ meta: { user_id: 1, total_unread: 3 }, put: [record, { ...record, id: 2 }], remove: [] });
    let snap = await web.cache.load();
    expect(snap.meta).toEqual({ user_id: 1, total_unread: 3 });
    expect(snap.conversations.map((c) => c.id)).toEqual([1, 2]);
    await web.cache.write({ meta: { user_id: 1, total_unread: 0 }, put: [], remove: [2] });
    snap = await web.cache.load();
    expect(snap.conversations.map((c) => c.id)).toEqual([1]);
    await web.cache.clear();
    expect(await web.cache.load()).toEqual({ meta: null, conversations: [] });

    const legacy = new Map([["chat.session", "old-session"]]);
    const fakeLocal = {
      getItem: (k: string) => legacy.get(k) ?? null,
      removeItem: (k: string) => void legacy.delete(k),
    } as unknown as Storage;
    const { IdbStorage } = await import("../../src/platform/idbCache");
    const kv = new IdbStorage(web.db, fakeLocal);
    expect(await kv.getItem("chat.session")).toBe("old-session");
    expect(legacy.size).toBe(0); // moved, not copied
    expect(await kv.getItem("chat.session")).toBe("old-session");
    await kv.setItem("chat.outbox", "[]");
    expect(await kv.getItem("chat.outbox")).toBe("[]");
    await kv.removeItem("chat.outbox");
    expect(await kv.getItem("chat.outbox")).toBeNull();
    web.db.close();
    await flush();
  });
});
