import { describe, expect, it, vi } from "vitest";
import { fromCached, toCached } from "../../src/core/cache";
import { ChatClient } from "../../src/core/client";
import type { Action } from "../../src/core/events";
import { reduce } from "../../src/core/reducer";
import type { FetchLike } from "../../src/core/rest";
import { MUTE_FOREVER, muteUntil, notificationState } from "../../src/core/settings";
import { initialState, type ChatState } from "../../src/core/state";
import { MemoryStorage } from "../../src/core/storage";
import type { Conversation } from "../../src/core/types";
import { fakeIo, flush, msg, user, type FakeSocket } from "./fakes";

const me = user(1);
const bob = user(2);
const NOW = Date.parse("2026-12-01T12:00:00.000Z");

function conv(id: number, extra: Partial<Conversation> = {}): Conversation {
  return {
    id,
    type: "group",
    name: `g${id}`,
    members: [me, bob],
    last_seq: 5,
    last_message: null,
    unread_count: 0,
    last_read_seq: 0,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
    ...extra,
  };
}

function run(...actions: Action[]): ChatState {
  return actions.reduce(reduce, initialState());
}

const ready = (unread_mentions?: number): Action => ({
  type: "ready",
  at: 0,
  payload: { user: me, conversations: [{ id: 1, last_seq: 5, last_read_seq: 1, unread_count: 4, unread_mentions }], total_unread: 4 },
});

describe("unread mentions in the store", () => {
  it("come from ready, and a v1 ready without them counts none", () => {
    expect(run(ready(2)).conversations["1"].unread_mentions).toBe(2);
    expect(run(ready()).conversations["1"].unread_mentions).toBe(0);
  });

  it("follow unread events; an unread event without them (v1) clears them only with the unread", () => {
    const unread = (unread_count: number, unread_mentions?: number): Action => ({
      type: "unread",
      at: 0,
      payload: { conversation_id: 1, unread_count, total_unread: unread_count, unread_mentions },
    });
    expect(run(ready(0), unread(5, 1)).conversations["1"].unread_mentions).toBe(1);
    expect(run(ready(2), unread(3)).conversations["1"].unread_mentions).toBe(2);
    expect(run(ready(2), unread(0)).conversations["1"].unread_mentions).toBe(0);
  });

  it("come with conversation objects (REST, conversation:updated, sync), never above the unread count", () => {
    const updated: Action = { type: "conversation:updated", at: 0, payload: { conversation: conv(1, { unread_count: 3, unread_mentions: 1 }) } };
    expect(run(ready(0), updated).conversations["1"].unread_mentions).toBe(1);
    const loaded: Action = { type: "conversations:loaded", conversations: [conv(1, { unread_count: 1, unread_mentions: 4 })] };
    expect(run(ready(0), loaded).conversations["1"].unread_mentions).toBe(1);
    const synced: Action = {
      type: "sync:applied",
      messages: [],
      changes: [],
      conversations: [conv(7, { unread_count: 2, unread_mentions: 2, version: 3 })],
      removed: [],
    };
    expect(run(ready(0), synced).conversations["7"].unread_mentions).toBe(2);
  });

  it("reading everything clears them at once, before the unread event arrives", () => {
    const acked: Action = { type: "read:acked", conversation_id: 1, last_read_seq: 5, unread_count: 0 };
    expect(run(ready(3), acked).conversations["1"].unread_mentions).toBe(0);
  });

  it("survive the offline cache (a record of an older version reads as none)", () => {
    const s = run(ready(2), { type: "conversations:loaded", conversations: [conv(1, { unread_count: 4, unread_mentions: 2 })] });
    const record = toCached(s.conversations["1"])!;
    expect(fromCached(record).unread_mentions).toBe(2);
    const old = { ...record };
    delete old.unread_mentions;
    expect(fromCached(old).unread_mentions).toBe(0);
  });
});

describe("mentions on messages", () => {
  it("a deleted message has no mentions, live as from sync (like its body and reactions)", () => {
    const m = msg(10, 5, { body: "hi @u1", mentions: [1], reactions: { "👍": [2] } });
    const s = run(
      ready(1),
      { type: "conversations:loaded", conversations: [conv(1, { last_message: m })] },
      { type: "message:new", at: 0, payload: { message: m } },
      { type: "message:deleted", at: 0, payload: { conversation_id: 1, message_id: 10, seq: 5 } },
    );
    const held = s.conversations["1"].messages[0];
    expect(held).toMatchObject({ deleted: true, body: "", mentions: [], reactions: {} });
    expect(s.conversations["1"].conversation!.last_message).toMatchObject({ deleted: true, body: "", mentions: [] });
  });
});

describe("notification settings", () => {
  it("default to all and not muted (also for a v1 server's conversation)", () => {
    expect(notificationState(conv(1), NOW)).toEqual({ level: "all", mutedUntil: null, forever: false, quiet: false });
    expect(notificationState(null, NOW).level).toBe("all");
  });

  it("a mute in the future is muted and quiet; one in the past is not", () => {
    const until = "2026-12-01T18:00:00.000Z";
    expect(notificationState(conv(1, { muted_until: until }), NOW)).toMatchObject({ mutedUntil: until, forever: false, quiet: true });
    expect(notificationState(conv(1, { muted_until: "2026-12-01T11:00:00.000Z" }), NOW)).toMatchObject({ mutedUntil: null, quiet: false });
    expect(notificationState(conv(1, { muted_until: MUTE_FOREVER }), NOW)).toMatchObject({ forever: true, quiet: true });
  });

  it("level none is quiet without a mute; mentions is not", () => {
    expect(notificationState(conv(1, { notifications: "none" }), NOW).quiet).toBe(true);
    expect(notificationState(conv(1, { notifications: "mentions" }), NOW)).toMatchObject({ level: "mentions", quiet: false });
  });

  it("mute choices are 1 hour, 8 hours, 1 week from now, and always a far-future time", () => {
    expect(muteUntil("1h", NOW)).toBe("2026-12-01T13:00:00.000Z");
    expect(muteUntil("8h", NOW)).toBe("2026-12-01T20:00:00.000Z");
    expect(muteUntil("1w", NOW)).toBe("2026-12-08T12:00:00.000Z");
    expect(muteUntil("always", NOW)).toBe("9999-01-01T00:00:00.000Z");
  });
});

// ------------------------------------------------------------------ the client

interface Call {
  method: string;
  path: string;
  body: unknown;
  auth: string | undefined;
}

/** REST double that records calls and answers the push and settings endpoints like the server. */
function recordingFetch(calls: Call[]): FetchLike {
  return async (url, init) => {
    const path = url.replace("http://srv/api/v1", "");
    const body = init.body ? JSON.parse(init.body) : undefined;
    calls.push({ method: init.method, path, body, auth: init.headers.Authorization });
    let answer: unknown = {};
    let status = 200;
    if (path === "/auth/login") answer = { user: me, token: "tok" };
    else if (path.startsWith("/conversations?")) answer = { conversations: [], next_cursor: null };
    else if (path.includes("/messages?")) answer = { messages: [], has_more: false };
    else if (path.endsWith("/settings")) answer = { conversation: conv(1, { ...body, version: 9 }) };
    else if (path === "/push/config") answer = { webpush: { public_key: "BPubKey" } };
    else if (path === "/push/subscriptions" && init.method === "POST") {
      status = 201;
      answer = { subscription: { id: 3, type: body.type, device_name: body.device_name ?? null, created_at: "2026-12-01T12:00:00.000Z" } };
    }
    return { status, ok: true, text: async () => JSON.stringify(answer) };
  };
}

async function signedIn(calls: Call[] = []) {
  const io = fakeIo();
  const client = new ChatClient({ baseUrl: "http://srv", storage: new MemoryStorage(), fetch: recordingFetch(calls), io: io.factory, now: () => NOW, cache: null });
  await client.login("me", "password1");
  client.connect();
  return { client, socket: io.made[0], calls };
}

function readyWith(socket: FakeSocket, ids: number[], v2 = true) {
  socket.open();
  socket.fire("ready", {
    user: me,
    conversations: ids.map((id) => ({ id, last_seq: 3, last_read_seq: 3, unread_count: 0, ...(v2 ? { version: 1 } : {}) })),
    total_unread: 0,
  });
}

describe("ChatClient: settings and push over REST", () => {
  it("PATCHes the settings and applies the answer at once", async () => {
    const { client, calls } = await signedIn();
    client.store.dispatch({ type: "conversations:loaded", conversations: [conv(1)] });
    await client.updateSettings(1, { notifications: "mentions" });
    expect(calls.at(-1)).toMatchObject({ method: "PATCH", path: "/conversations/1/settings", body: { notifications: "mentions" }, auth: "Bearer tok" });
    expect(client.state.conversations["1"].conversation!.notifications).toBe("mentions");
  });

  it("mute sends the chosen end, always a far-future time; unmute sends null", async () => {
    const { client, calls } = await signedIn();
    await client.mute(1, "8h");
    expect(calls.at(-1)!.body).toEqual({ muted_until: "2026-12-01T20:00:00.000Z" });
    await client.mute(1, "always");
    expect(calls.at(-1)!.body).toEqual({ muted_until: MUTE_FOREVER });
    expect(notificationState(client.state.conversations["1"].conversation, NOW)).toMatchObject({ forever: true, quiet: true });
    await client.unmute(1);
    expect(calls.at(-1)!.body).toEqual({ muted_until: null });
  });

  it("reads the VAPID key and registers a Web Push subscription or an FCM token", async () => {
    const { client, calls } = await signedIn();
    expect(await client.pushConfig()).toEqual({ webpush: { public_key: "BPubKey" } });
    expect(calls.at(-1)).toMatchObject({ method: "GET", path: "/push/config" });
    const web = { type: "webpush" as const, endpoint: "https://push.example/abc", keys: { p256dh: "P", auth: "A" }, device_name: "Chromium" };
    expect(await client.registerPush(web)).toMatchObject({ id: 3, type: "webpush", device_name: "Chromium" });
    expect(calls.at(-1)).toMatchObject({ method: "POST", path: "/push/subscriptions", body: web });
    await client.registerPush({ type: "fcm", token: "fcm-token" });
    expect(calls.at(-1)!.body).toEqual({ type: "fcm", token: "fcm-token" });
  });

  it("lists and deletes subscriptions", async () => {
    const { client, calls } = await signedIn();
    await client.rest.pushSubscriptions();
    await client.rest.unsubscribePush(3);
    expect(calls.slice(-2).map((c) => `${c.method} ${c.path}`)).toEqual(["GET /push/subscriptions", "DELETE /push/subscriptions/3"]);
  });
});

describe("ChatClient: delivered receipts hold pushes back", () => {
  it("acknowledges every message of someone else at once, in every conversation, shown or not", async () => {
    const { socket } = await signedIn();
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false, changes: [], cursors: {}, versions: {} });
    socket.responders.delivered = (p) => ({ ok: true, delivered_seq: p.seq });
    readyWith(socket, [1, 2]);
    socket.fire("message:new", { message: msg(4, 4, { conversation_id: 1, sender_id: 2 }) });
    socket.fire("message:new", { message: msg(9, 4, { conversation_id: 2, sender_id: 2 }) });
    socket.fire("message:new", { message: msg(5, 5, { conversation_id: 1, sender_id: 1 }) }); // ours: none
    socket.fire("message:new", { message: msg(6, 6, { conversation_id: 1, sender_id: 2 }) });
    // A conversation the device has never heard of (added a moment ago) is acknowledged too.
    socket.fire("message:new", { message: msg(20, 1, { conversation_id: 3, sender_id: 2 }) });
    await flush();
    expect(socket.sent("delivered").map((e) => e.payload)).toEqual([
      { conversation_id: 1, seq: 4 },
      { conversation_id: 2, seq: 4 },
      { conversation_id: 1, seq: 6 },
      { conversation_id: 3, seq: 1 },
    ]);
  });

  it("on a v2 server a receipt that timed out does not stop the next ones", async () => {
    const { socket } = await signedIn();
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false, changes: [], cursors: { "1": 3 }, versions: { "1": 1 } });
    socket.responders.delivered = () => new Error("timeout");
    readyWith(socket, [1]);
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(1));
    await flush();
    socket.fire("message:new", { message: msg(4, 4, { sender_id: 2 }) });
    await vi.waitFor(() => expect(socket.sent("delivered")).toHaveLength(1));
    await flush();
    socket.responders.delivered = (p) => ({ ok: true, delivered_seq: p.seq });
    socket.fire("message:new", { message: msg(5, 5, { sender_id: 2 }) });
    await vi.waitFor(() => expect(socket.sent("delivered")).toHaveLength(2));
    expect(socket.sent("delivered")[1].payload).toEqual({ conversation_id: 1, seq: 5 });
  });

  it("a v1 server that never answers delivered is not asked again this session", async () => {
    const { socket } = await signedIn();
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    socket.responders.delivered = () => new Error("timeout");
    readyWith(socket, [1], false);
    await vi.waitFor(() => expect(socket.sent("sync")).toHaveLength(1));
    socket.fire("message:new", { message: msg(4, 4, { sender_id: 2 }) });
    await vi.waitFor(() => expect(socket.sent("delivered")).toHaveLength(1));
    await flush();
    socket.fire("message:new", { message: msg(5, 5, { sender_id: 2 }) });
    await flush();
    expect(socket.sent("delivered")).toHaveLength(1);
  });
});
