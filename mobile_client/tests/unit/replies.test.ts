import { describe, expect, it, vi } from "vitest";
import { ChatClient } from "../../src/core/client";
import type { Action } from "../../src/core/events";
import { holes } from "../../src/core/messages";
import { reduce } from "../../src/core/reducer";
import { quoteOf, quoteSnippet, QUOTE_MAX_CHARS } from "../../src/core/replies";
import type { FetchLike } from "../../src/core/rest";
import { initialState, type ChatState } from "../../src/core/state";
import { MemoryStorage } from "../../src/core/storage";
import type { Message, ReplyPreview } from "../../src/core/types";
import { fakeIo, msg, user, type FakeSocket } from "./fakes";

const me = user(1);

function run(...actions: Action[]): ChatState {
  return actions.reduce(reduce, initialState());
}
const ready: Action = {
  type: "ready",
  at: 0,
  payload: { user: me, conversations: [{ id: 1, last_seq: 0, last_read_seq: 0, unread_count: 0 }], total_unread: 0 },
};
const arrive = (m: Message): Action => ({ type: "message:new", at: 0, payload: { message: m } });
const updated = (m: Message): Action => ({ type: "message:updated", at: 0, payload: { message: m } });
const held = (s: ChatState, id: number) => s.conversations["1"].messages.find((m) => m.id === id);

const original = msg(10, 1, { body: "Lunch at noon?", sender_id: 2, version: 1 });
const reply = msg(11, 2, { body: "Yes!", sender_id: 1, version: 2, reply_to: quoteOf(original) });

describe("quoteOf: the preview a reply carries, as the server computes it", () => {
  it("cuts the body to 200 code points (not UTF-16 units) and empties it once deleted", () => {
    const long = msg(1, 1, { body: "😀".repeat(QUOTE_MAX_CHARS + 5) });
    expect([...quoteOf(long).body]).toHaveLength(QUOTE_MAX_CHARS);
    expect(quoteOf(msg(1, 1, { deleted: true, body: "" }))).toMatchObject({ body: "", deleted: true });
    expect(quoteOf(original)).toEqual({ id: 10, seq: 1, sender_id: 2, body: "Lunch at noon?", deleted: false });
  });

  it("a snippet is one line, cut with an ellipsis", () => {
    expect(quoteSnippet({ body: "a\n\nb   c", deleted: false })).toBe("a b c");
    expect(quoteSnippet({ body: "x".repeat(100), deleted: false }, 10)).toBe(`${"x".repeat(9)}…`);
    expect(quoteSnippet({ body: "", deleted: true })).toBe("");
  });
});

describe("quotes follow their original", () => {
  it("an edit of the original rewrites the quote of every held reply at once", () => {
    const edited = { ...original, body: "Lunch at one?", edited_at: "2026-01-01T01:00:00.000Z", version: 3 };
    const s = run(ready, arrive(original), arrive(reply), updated(edited));
    expect(held(s, 11)?.reply_to).toEqual({ id: 10, seq: 1, sender_id: 2, body: "Lunch at one?", deleted: false });
    // The reply keeps its own version: the server's copy of it (version 4) still wins when it comes.
    expect(held(s, 11)?.version).toBe(2);
    const serverCopy = { ...reply, version: 4, reply_to: { ...quoteOf(edited) } };
    expect(held(reduce(s, updated(serverCopy)), 11)).toEqual(serverCopy);
  });

  it("a deletion of the original shows as a deleted quote", () => {
    const s = run(ready, arrive(original), arrive(reply), {
      type: "message:deleted", at: 0, payload: { conversation_id: 1, message_id: 10, seq: 1, version: 3 },
    });
    expect(held(s, 11)?.reply_to).toMatchObject({ id: 10, body: "", deleted: true });
  });

  it("the reply's own message:updated (as the server sends for each reply) replaces its quote", () => {
    const s = run(ready, arrive(reply), updated({ ...reply, version: 5, reply_to: { ...reply.reply_to!, body: "changed upstream" } }));
    expect(held(s, 11)?.reply_to?.body).toBe("changed upstream");
  });

  it("sync changes patch quotes too (a device away during the edit)", () => {
    const edited = { ...original, body: "moved to 1pm", version: 7 };
    const s = run(ready, arrive(original), arrive(reply), {
      type: "sync:applied", messages: [], changes: [edited], conversations: [], removed: [],
    });
    expect(held(s, 11)?.reply_to?.body).toBe("moved to 1pm");
  });

  it("a deleted reply carries no quote and is left alone; unrelated messages keep their identity", () => {
    const gone = msg(12, 3, { deleted: true, body: "", reply_to: null });
    const plain = msg(13, 4);
    const before = run(ready, arrive(original), arrive(gone), arrive(plain));
    const after = reduce(before, updated({ ...original, body: "edited", version: 9 }));
    expect(held(after, 12)?.reply_to).toBeNull();
    expect(held(after, 13)).toBe(held(before, 13));
  });
});

describe("the composer's reply draft (state.replying)", () => {
  it("starts, follows an edit of the original, and is cancelled", () => {
    let s = run(ready, arrive(original), { type: "reply:start", conversation_id: 1, message: original });
    expect(s.replying["1"]).toEqual(quoteOf(original));
    s = reduce(s, updated({ ...original, body: "Lunch at two?", version: 4 }));
    expect(s.replying["1"].body).toBe("Lunch at two?");
    s = reduce(s, { type: "reply:cancel", conversation_id: 1 });
    expect(s.replying).toEqual({});
  });

  it("is dropped when the original is deleted (the server refuses a reply to a deleted message)", () => {
    let s = run(ready, arrive(original), { type: "reply:start", conversation_id: 1, message: original });
    s = reduce(s, { type: "message:deleted", at: 0, payload: { conversation_id: 1, message_id: 10, seq: 1 } });
    expect(s.replying["1"]).toBeUndefined();
    expect(reduce(s, { type: "reply:start", conversation_id: 1, message: { ...original, deleted: true, body: "" } }).replying).toEqual({});
  });

  it("is per conversation and never part of what is cached (a reset clears it)", () => {
    const other = msg(20, 1, { conversation_id: 2 });
    let s = run(ready, { type: "reply:start", conversation_id: 1, message: original }, { type: "reply:start", conversation_id: 2, message: other });
    expect(Object.keys(s.replying).sort()).toEqual(["1", "2"]);
    s = reduce(s, { type: "reset" });
    expect(s.replying).toEqual({});
  });
});

describe("history around a quoted message (jump to the original)", () => {
  it("holes() lists missing seqs between held neighbours", () => {
    expect(holes([msg(1, 1), msg(2, 2), msg(30, 30), msg(31, 31), msg(40, 40)])).toEqual([
      { after: 2, before: 30, missing: 27 },
      { after: 31, before: 40, missing: 8 },
    ]);
    expect(holes([msg(1, 5), msg(2, 6)])).toEqual([]);
  });

  it("a window far back sets has_older from its page; filling the hole leaves has_older alone", () => {
    const latest = Array.from({ length: 50 }, (_, i) => msg(200 + i, 151 + i));
    let s = run(ready, { type: "history:loaded", conversation_id: 1, messages: latest, has_more: true, older: false });
    expect(s.conversations["1"].has_older).toBe(true);
    // The jump: a page before seq 35 + 15, reaching back below everything held.
    const around = Array.from({ length: 50 }, (_, i) => msg(i + 1, i));
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: around.slice(1), has_more: false, older: true });
    expect(s.conversations["1"].has_older).toBe(false);
    expect(holes(s.conversations["1"].messages)).toEqual([{ after: 49, before: 151, missing: 101 }]);
    // Filling from either side: after= pages say "more after", before= pages inside the hole say nothing about older.
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: [msg(400, 50), msg(401, 51)], has_more: true, older: false });
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: [msg(402, 149), msg(403, 150)], has_more: true, older: true });
    expect(s.conversations["1"].has_older).toBe(false);
    expect(holes(s.conversations["1"].messages)).toEqual([{ after: 51, before: 149, missing: 97 }]);
  });
});

/** Fake REST that answers history pages from a list of `total` messages and records the queries. */
function historyFetch(total: number, calls: string[]): FetchLike {
  const all = Array.from({ length: total }, (_, i) => msg(1000 + i + 1, i + 1));
  return async (url, init) => {
    calls.push(`${init.method} ${url.replace("http://srv/api/v1", "")}`);
    let body: unknown = {};
    const q = new URL(url).searchParams;
    if (url.endsWith("/auth/login")) body = { user: me, token: "tok" };
    else if (url.includes("/messages?")) {
      const limit = Number(q.get("limit"));
      if (q.has("before")) {
        const page = all.filter((m) => m.seq < Number(q.get("before")));
        body = { messages: page.slice(-limit), has_more: page.length > limit };
      } else if (q.has("after")) {
        const page = all.filter((m) => m.seq > Number(q.get("after")));
        body = { messages: page.slice(0, limit), has_more: page.length > limit };
      } else body = { messages: all.slice(-limit), has_more: all.length > limit };
    } else if (url.includes("/conversations?")) body = { conversations: [], next_cursor: null };
    return { status: 200, ok: true, text: async () => JSON.stringify(body) };
  };
}

async function clientWith(fetch: FetchLike, storage = new MemoryStorage()) {
  const io = fakeIo();
  const client = new ChatClient({ baseUrl: "http://srv", storage, fetch, io: io.factory, newId: () => "cid-1" });
  await client.login("me", "password1");
  client.connect();
  const socket: FakeSocket = io.made[0];
  socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
  return { client, socket };
}

describe("ChatClient: replies", () => {
  it("sends reply_to with the quoted id, clears the draft, and keeps the quote in the outbox across a reload", async () => {
    const storage = new MemoryStorage();
    const { client } = await clientWith(historyFetch(0, []), storage);
    client.startReply(1, original);
    expect(client.replyingTo(1)?.id).toBe(10);
    const entry = await client.sendMessage(1, "Yes!", { replyTo: client.replyingTo(1) });
    expect(entry.reply_to).toEqual(quoteOf(original));
    expect(client.replyingTo(1)).toBeNull();

    const io = fakeIo();
    const again = new ChatClient({ baseUrl: "http://srv", storage, fetch: historyFetch(0, []), io: io.factory });
    await again.restore();
    again.connect();
    const socket = io.made[0];
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    socket.responders["message:send"] = (p) => ({ ok: true, message: msg(11, 2, { sender_id: 1, client_id: p.client_id, reply_to: quoteOf(original) }) });
    socket.open();
    socket.fire("ready", ready.type === "ready" ? ready.payload : null);
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
    expect(socket.sent("message:send")[0].payload).toEqual({ conversation_id: 1, body: "Yes!", client_id: "cid-1", reply_to: 10 });
    await vi.waitFor(() => expect(again.outbox.size).toBe(0));
  });

  it("a reply whose original was deleted meanwhile goes as a plain message, same client_id, exactly one send accepted", async () => {
    const { client, socket } = await clientWith(historyFetch(0, []));
    socket.responders["message:send"] = (p) =>
      p.reply_to
        ? { ok: false, error: { code: "validation_error", message: "reply_to: the message was deleted", fields: { reply_to: "the message was deleted" } } }
        : { ok: true, message: msg(11, 2, { sender_id: 1, client_id: p.client_id, body: p.body }) };
    await client.sendMessage(1, "still sent", { replyTo: original });
    socket.open();
    socket.fire("ready", ready.type === "ready" ? ready.payload : null);
    await vi.waitFor(() => expect(client.outbox.size).toBe(0));
    const sends = socket.sent("message:send").map((e) => e.payload);
    expect(sends).toEqual([
      { conversation_id: 1, body: "still sent", client_id: "cid-1", reply_to: 10 },
      { conversation_id: 1, body: "still sent", client_id: "cid-1" },
    ]);
  });

  it("another refusal of a reply still fails the entry (shown with retry / discard)", async () => {
    const { client, socket } = await clientWith(historyFetch(0, []));
    socket.responders["message:send"] = () => ({ ok: false, error: { code: "forbidden", message: "only admins can post" } });
    await client.sendMessage(1, "nope", { replyTo: original });
    socket.open();
    socket.fire("ready", ready.type === "ready" ? ready.payload : null);
    await vi.waitFor(() => expect(client.outbox.list()[0]?.state).toBe("failed"));
    expect(client.outbox.list()[0].reply_to?.id).toBe(10);
  });

  it("loadAround fetches one page ending a little after an unloaded seq; a held one needs no request", async () => {
    const calls: string[] = [];
    const { client } = await clientWith(historyFetch(300, calls));
    await client.openConversation(1);
    expect(calls.filter((c) => c.includes("/messages"))).toEqual(["GET /conversations/1/messages?limit=50"]);
    const target = await client.loadAround(1, 20);
    expect(target?.seq).toBe(20);
    expect(calls.at(-1)).toBe("GET /conversations/1/messages?limit=50&before=35");
    const c = client.state.conversations["1"];
    expect(c.messages[0].seq).toBe(1);
    expect(c.has_older).toBe(false);
    expect(holes(c.messages)).toEqual([{ after: 34, before: 251, missing: 216 }]);
    const n = calls.length;
    expect((await client.loadAround(1, 260))?.seq).toBe(260);
    expect(calls.length).toBe(n);
    expect(await client.loadAround(1, 999)).toBeNull();
  });

  it("fillHole pages down with after= and up with before=", async () => {
    const calls: string[] = [];
    const { client } = await clientWith(historyFetch(300, calls));
    await client.openConversation(1);
    await client.loadAround(1, 20);
    await client.fillHole(1, holes(client.state.conversations["1"].messages)[0], "down");
    expect(calls.at(-1)).toBe("GET /conversations/1/messages?limit=50&after=34");
    await client.fillHole(1, holes(client.state.conversations["1"].messages)[0], "up");
    expect(calls.at(-1)).toBe("GET /conversations/1/messages?limit=50&before=251");
    expect(holes(client.state.conversations["1"].messages)).toEqual([{ after: 84, before: 201, missing: 116 }]);
  });
});

// Type-level: the draft is the contract's ReplyPreview.
const _draft: ReplyPreview | undefined = initialState().replying["1"];
void _draft;
