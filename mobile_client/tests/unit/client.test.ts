import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ChatClient } from "../../src/core/client";
import { ChatError } from "../../src/core/errors";
import type { FetchLike } from "../../src/core/rest";
import { MemoryStorage } from "../../src/core/storage";
import { fakeIo, flush, msg, user, type FakeSocket } from "./fakes";

const me = user(1);

/** Fake REST: an empty conversation list and empty history, recording calls. */
function fakeFetch(calls: string[] = []): FetchLike {
  return async (url, init) => {
    calls.push(`${init.method} ${url}`);
    let body: unknown = {};
    if (url.includes("/conversations?")) body = { conversations: [], next_cursor: null };
    else if (url.includes("/messages?")) body = { messages: [], has_more: false };
    else if (url.endsWith("/auth/login")) body = { user: me, token: "tok" };
    return { status: 200, ok: true, text: async () => JSON.stringify(body) };
  };
}

async function signedIn(storage = new MemoryStorage(), ids?: () => string) {
  const io = fakeIo();
  const client = new ChatClient({ baseUrl: "http://srv", storage, fetch: fakeFetch(), io: io.factory, newId: ids });
  await client.login("me", "password1");
  client.connect();
  const socket = io.made[0];
  return { client, socket, storage, io };
}

function ready(socket: FakeSocket, last_seq = 3) {
  socket.open();
  socket.fire("ready", { user: me, conversations: [{ id: 1, last_seq, last_read_seq: 0, unread_count: 0 }], total_unread: 0 });
}

describe("ChatClient transport setup", () => {
  it("connects to the /chat namespace with auth {token}, polling first with the upgrade to WebSocket", async () => {
    const { socket } = await signedIn();
    expect(socket.url).toBe("http://srv/chat");
    // Polling first: a blocked WebSocket (dropped or refused) never delays `ready`.
    expect(socket.opts.transports).toEqual(["polling", "websocket"]);
    expect(socket.opts.upgrade).not.toBe(false);
    expect(socket.opts.tryAllTransports).toBe(true);
    expect(socket.opts.reconnection).toBe(true);
    let auth: unknown;
    socket.opts.auth((d: unknown) => (auth = d));
    expect(auth).toEqual({ token: "tok" });
  });

  it("a connect timeout (the first transport hangs) swaps the order; a refusal keeps it", async () => {
    const { socket } = await signedIn();
    socket.active = true;
    socket.io.opts.transports = ["polling", "websocket"];
    socket.fire("connect_error", new Error("xhr poll error")); // server down: nothing hangs
    expect(socket.io.opts.transports).toEqual(["polling", "websocket"]);
    socket.fire("connect_error", new Error("timeout"));
    expect(socket.io.opts.transports).toEqual(["websocket", "polling"]);
    socket.fire("connect_error", new Error("timeout"));
    expect(socket.io.opts.transports).toEqual(["polling", "websocket"]);
  });

  it("connect_error unauthorized ends the session and tells the UI", async () => {
    const { client, socket, storage } = await signedIn();
    const seen = vi.fn();
    client.onUnauthorized(seen);
    socket.fire("connect_error", Object.assign(new Error("refused"), { data: { code: "unauthorized", message: "bad token" } }));
    await flush();
    await flush();
    expect(seen).toHaveBeenCalledOnce();
    expect(client.token).toBeNull();
    expect(await storage.getItem("chat.session")).toBeNull();
  });
});

describe("sync", () => {
  it("on every ready, syncs from the cursors and loops while has_more", async () => {
    const { client, socket } = await signedIn();
    const pages = [
      { ok: true, messages: [msg(1, 1), msg(2, 2)], has_more: true },
      { ok: true, messages: [msg(3, 3)], has_more: false },
    ];
    socket.responders.sync = () => pages.shift();
    ready(socket, 0); // first connect: cursor 0
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(2));
    expect(socket.sent("sync")[0].payload.cursors).toEqual({ "1": 0 });
    expect(socket.sent("sync")[1].payload.cursors).toEqual({ "1": 2 });
    await vi.waitFor(() => expect(client.state.conversations["1"].cursor).toBe(3));

    // Reconnect: the held cursor (3) is used, not the new last_seq.
    socket.responders.sync = () => ({ ok: true, messages: [msg(4, 4), msg(3, 3)], has_more: false });
    socket.drop();
    ready(socket, 10);
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(3));
    expect(socket.sent("sync")[2].payload.cursors).toEqual({ "1": 3 });
    await vi.waitFor(() => expect(client.state.conversations["1"].messages.map((m) => m.id)).toEqual([1, 2, 3, 4]));
  });

  it("a seq gap (N+2 after N) triggers a sync of that conversation", async () => {
    const { client, socket } = await signedIn();
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    ready(socket, 3);
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(1));
    socket.fire("message:new", { message: msg(4, 4) });
    await flush();
    expect(socket.sent("sync")).toHaveLength(1);
    socket.responders.sync = () => ({ ok: true, messages: [msg(5, 5)], has_more: false });
    socket.fire("message:new", { message: msg(6, 6) });
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(2));
    expect(socket.sent("sync")[1].payload.cursors).toEqual({ "1": 4 });
    await vi.waitFor(() => expect(client.state.conversations["1"].cursor).toBe(6));
  });

  it("returning to the foreground syncs again", async () => {
    const { client, socket } = await signedIn();
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    ready(socket);
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(1));
    await client.foreground();
    expect(socket.sent("sync")).toHaveLength(2);
  });
});

describe("outbox over the socket", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  it("queues while offline, then sends once connected, with the SAME client_id after a lost ack", async () => {
    let n = 0;
    const { client, socket } = await signedIn(new MemoryStorage(), () => `c-${++n}`);
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    const entry = await client.sendMessage(1, "  hello  ");
    expect(entry.body).toBe("hello");
    expect(client.outbox.list()).toHaveLength(1);
    expect(socket.sent("message:send")).toHaveLength(0); // disconnected: not buffered

    // First attempt: the ack is lost.
    socket.responders["message:send"] = () => new Error("timeout");
    ready(socket);
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
    expect(client.outbox.size).toBe(1);

    // The retry timer fires: same client_id, now acknowledged.
    socket.responders["message:send"] = (p) => ({ ok: true, message: msg(50, 4, { sender_id: 1, client_id: p.client_id, body: p.body }) });
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(2));
    const ids = socket.sent("message:send").map((e) => e.payload.client_id);
    expect(ids).toEqual([entry.client_id, entry.client_id]);
    await vi.waitFor(() => expect(client.outbox.size).toBe(0));
    expect(client.state.conversations["1"].messages.map((m) => m.id)).toEqual([50]);

    // The echo of the same message does not duplicate it.
    socket.fire("message:new", { message: msg(50, 4, { sender_id: 1, client_id: entry.client_id }) });
    expect(client.state.conversations["1"].messages).toHaveLength(1);
  });

  it("the outbox survives a reload and resends the stored client_id", async () => {
    const storage = new MemoryStorage();
    const first = await signedIn(storage, () => "stable-id");
    await first.client.sendMessage(1, "survive");
    first.client.disconnect();

    const io = fakeIo();
    const again = new ChatClient({ baseUrl: "http://srv", storage, fetch: fakeFetch(), io: io.factory });
    expect(await again.restore()).toBe(true);
    again.connect();
    const socket = io.made[0];
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    socket.responders["message:send"] = (p) => ({ ok: true, message: msg(60, 4, { sender_id: 1, client_id: p.client_id }) });
    ready(socket);
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
    expect(socket.sent("message:send")[0].payload).toEqual({ conversation_id: 1, body: "survive", client_id: "stable-id" });
  });

  it("a message carrying our client_id arriving by sync settles the outbox entry", async () => {
    const { client, socket } = await signedIn(new MemoryStorage(), () => "mine-1");
    await client.sendMessage(1, "x");
    socket.responders["message:send"] = () => undefined; // never answered
    socket.responders.sync = () => ({ ok: true, messages: [msg(70, 4, { sender_id: 1, client_id: "mine-1" })], has_more: false });
    ready(socket);
    await vi.waitFor(() => expect(client.outbox.size).toBe(0));
  });

  it("rejects empty and over-long bodies before queueing", async () => {
    const { client } = await signedIn();
    await expect(client.sendMessage(1, "   ")).rejects.toBeInstanceOf(ChatError);
    await expect(client.sendMessage(1, "x".repeat(4001))).rejects.toMatchObject({ code: "validation_error" });
    await expect(client.sendMessage(1, "😀".repeat(4000))).resolves.toBeTruthy(); // code points, not UTF-16 units
  });
});

describe("receipts", () => {
  it("emits delivered for others' messages and tolerates an error ack", async () => {
    const { client, socket } = await signedIn();
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    socket.responders.delivered = () => ({ ok: false, error: { code: "validation_error", message: "unknown" } });
    ready(socket);
    socket.fire("message:new", { message: msg(4, 4, { sender_id: 2 }) });
    socket.fire("message:new", { message: msg(5, 5, { sender_id: 1 }) }); // ours: no receipt
    await flush();
    expect(socket.sent("delivered").map((e) => e.payload)).toEqual([{ conversation_id: 1, seq: 4 }]);
    expect(client.state.conversations["1"].messages).toHaveLength(2);
  });
});
