import { describe, expect, it } from "vitest";
import type { Action } from "../../src/core/events";
import { reduce } from "../../src/core/reducer";
import { gappedConversations, sortedConversations, syncCursors, tickFor, typingUsers } from "../../src/core/selectors";
import { initialState, type ChatState } from "../../src/core/state";
import type { Conversation } from "../../src/core/types";
import { msg, user } from "./fakes";

const me = user(1);
const bob = user(2);

function conv(id: number, extra: Partial<Conversation> = {}): Conversation {
  return {
    id,
    type: "direct",
    name: null,
    members: [me, bob],
    last_seq: 0,
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

const ready = (last_seq = 3): Action => ({
  type: "ready",
  at: 0,
  payload: { user: me, conversations: [{ id: 1, last_seq, last_read_seq: 1, unread_count: 2 }], total_unread: 2 },
});
const newMsg = (id: number, seq: number, extra = {}): Action => ({
  type: "message:new",
  at: 0,
  payload: { message: msg(id, seq, extra) },
});

describe("ready", () => {
  it("sets me, counts, and a fresh conversation's cursor at last_seq (nothing to sync)", () => {
    const s = run(ready(3));
    expect(s.me).toEqual(me);
    expect(s.total_unread).toBe(2);
    expect(s.conversations["1"]).toMatchObject({ cursor: 3, last_seq: 3, unread_count: 2, last_read_seq: 1 });
    expect(syncCursors(s)).toEqual({ "1": 3 });
  });

  it("on reconnect keeps the old cursor so sync fetches what was missed", () => {
    const s = run(ready(3), newMsg(4, 4), ready(9));
    expect(s.conversations["1"].cursor).toBe(4);
    expect(s.conversations["1"].last_seq).toBe(9);
    expect(syncCursors(s)).toEqual({ "1": 4 });
  });

  it("drops conversations the user left while away", () => {
    const s = run(ready(3), {
      type: "ready",
      at: 0,
      payload: { user: me, conversations: [], total_unread: 0 },
    });
    expect(s.conversations).toEqual({});
  });
});

describe("message events", () => {
  it("message:new dedupes by id and advances the cursor", () => {
    const s = run(ready(3), newMsg(4, 4), newMsg(4, 4), newMsg(5, 5));
    expect(s.conversations["1"].messages.map((m) => m.id)).toEqual([4, 5]);
    expect(s.conversations["1"].cursor).toBe(5);
    expect(gappedConversations(s)).toEqual([]);
  });

  it("seq N+2 after N leaves a gap that sync:loaded closes", () => {
    let s = run(ready(3), newMsg(4, 4), newMsg(6, 6));
    expect(s.conversations["1"].cursor).toBe(4);
    expect(gappedConversations(s)).toEqual([1]);
    s = reduce(s, { type: "sync:loaded", messages: [msg(5, 5), msg(6, 6)] });
    expect(s.conversations["1"].cursor).toBe(6);
    expect(s.conversations["1"].messages.map((m) => m.seq)).toEqual([4, 5, 6]);
    expect(gappedConversations(s)).toEqual([]);
  });

  it("message:updated replaces; message:deleted blanks body and reactions but keeps id and seq", () => {
    let s = run(ready(3), newMsg(4, 4));
    s = reduce(s, { type: "message:updated", at: 0, payload: { message: msg(4, 4, { body: "edited", edited_at: "2026-01-02T00:00:00.000Z" }) } });
    expect(s.conversations["1"].messages[0].body).toBe("edited");
    s = reduce(s, { type: "message:deleted", at: 0, payload: { conversation_id: 1, message_id: 4, seq: 4 } });
    expect(s.conversations["1"].messages[0]).toMatchObject({ id: 4, seq: 4, deleted: true, body: "", reactions: {} });
  });

  it("updates the conversation's last message preview and list order", () => {
    let s = run(ready(0), { type: "conversations:loaded", conversations: [conv(1), conv(2, { updated_at: "2026-01-01T00:00:30.000Z" })] });
    expect(sortedConversations(s).map((c) => c.id)).toEqual([2, 1]);
    s = reduce(s, newMsg(9, 1, { created_at: "2026-01-01T00:01:00.000Z" }));
    expect(sortedConversations(s).map((c) => c.id)).toEqual([1, 2]);
    expect(s.conversations["1"].conversation?.last_message?.id).toBe(9);
  });

  it("history pages merge and set has_older", () => {
    let s = run(ready(120));
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: [msg(71, 71), msg(120, 120)], has_more: true, older: false });
    expect(s.conversations["1"].has_older).toBe(true);
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: [msg(1, 1), msg(2, 2)], has_more: false, older: true });
    expect(s.conversations["1"].has_older).toBe(false);
    expect(s.conversations["1"].messages[0].seq).toBe(1);
    // Re-opening (latest page again) does not resurrect has_older.
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: [msg(120, 120)], has_more: true, older: false });
    expect(s.conversations["1"].has_older).toBe(false);
  });
});

describe("typing, presence, receipts, unread", () => {
  it("typing: true expires after expires_in_ms; a message from the typist clears it", () => {
    let s = run(ready(3), { type: "conversations:loaded", conversations: [conv(1)] });
    s = reduce(s, { type: "typing", at: 1000, payload: { conversation_id: 1, user_id: 2, typing: true, expires_in_ms: 5000 } });
    expect(typingUsers(s, 1, 2000).map((u) => u.id)).toEqual([2]);
    expect(typingUsers(s, 1, 6001)).toEqual([]);
    s = reduce(s, newMsg(4, 4, { sender_id: 2 }));
    expect(typingUsers(s, 1, 2000)).toEqual([]);
  });

  it("typing: false clears at once; our own typing echo is ignored", () => {
    let s = run(ready(3), { type: "conversations:loaded", conversations: [conv(1)] });
    s = reduce(s, { type: "typing", at: 0, payload: { conversation_id: 1, user_id: 2, typing: true, expires_in_ms: 5000 } });
    s = reduce(s, { type: "typing", at: 0, payload: { conversation_id: 1, user_id: 2, typing: false, expires_in_ms: 0 } });
    s = reduce(s, { type: "typing", at: 0, payload: { conversation_id: 1, user_id: 1, typing: true, expires_in_ms: 5000 } });
    expect(typingUsers(s, 1, 1)).toEqual([]);
  });

  it("presence updates a known user", () => {
    let s = run(ready(3), { type: "conversations:loaded", conversations: [conv(1)] });
    s = reduce(s, { type: "presence", at: 0, payload: { user_id: 2, online: true, last_seen_at: "2026-01-01T00:00:00.000Z" } });
    expect(s.users["2"].online).toBe(true);
  });

  it("ticks: sent, then delivered, then read as the peer's receipts arrive", () => {
    let s = run(ready(3), { type: "conversations:loaded", conversations: [conv(1)] });
    s = reduce(s, { type: "message:acked", message: msg(4, 4, { sender_id: 1 }) });
    const c = () => s.conversations["1"];
    const m = () => c().messages[0];
    expect(tickFor(s, c(), m())).toBe("sent");
    s = reduce(s, { type: "delivered", at: 0, payload: { conversation_id: 1, user_id: 2, seq: 4 } });
    expect(tickFor(s, c(), m())).toBe("delivered");
    s = reduce(s, { type: "read", at: 0, payload: { conversation_id: 1, user_id: 2, seq: 4 } });
    expect(tickFor(s, c(), m())).toBe("read");
    // Receipts never move backwards.
    s = reduce(s, { type: "read", at: 0, payload: { conversation_id: 1, user_id: 2, seq: 2 } });
    expect(tickFor(s, c(), m())).toBe("read");
  });

  it("ticks start from the conversation's receipts extension when present", () => {
    const s = run(ready(3), {
      type: "conversations:loaded",
      conversations: [conv(1, { receipts: { "2": { last_read_seq: 0, delivered_seq: 4 } } })],
    }, { type: "message:acked", message: msg(4, 4, { sender_id: 1 }) });
    expect(tickFor(s, s.conversations["1"], s.conversations["1"].messages[0])).toBe("delivered");
  });

  it("others' messages have no tick", () => {
    const s = run(ready(3), { type: "conversations:loaded", conversations: [conv(1)] }, newMsg(4, 4));
    expect(tickFor(s, s.conversations["1"], s.conversations["1"].messages[0])).toBeNull();
  });

  it("unread and read:acked update counts; our own read on another device moves last_read_seq", () => {
    let s = run(ready(3));
    s = reduce(s, { type: "unread", at: 0, payload: { conversation_id: 1, unread_count: 5, total_unread: 7 } });
    expect(s.total_unread).toBe(7);
    expect(s.conversations["1"].unread_count).toBe(5);
    s = reduce(s, { type: "read", at: 0, payload: { conversation_id: 1, user_id: 1, seq: 3 } });
    expect(s.conversations["1"].last_read_seq).toBe(3);
    s = reduce(s, { type: "read:acked", conversation_id: 1, last_read_seq: 3, unread_count: 0 });
    expect(s.conversations["1"].unread_count).toBe(0);
  });
});

describe("conversations and members", () => {
  it("conversation:new adds it with its members as users; conversation:updated renames", () => {
    let s = run(ready(0));
    s = reduce(s, { type: "conversation:new", at: 0, payload: { conversation: conv(5, { type: "group", name: "Team", last_seq: 2 }) } });
    expect(s.conversations["5"].cursor).toBe(2);
    expect(s.users["2"].username).toBe("u2");
    s = reduce(s, { type: "conversation:updated", at: 0, payload: { conversation: conv(5, { type: "group", name: "Crew", last_seq: 2 }) } });
    expect(s.conversations["5"].conversation?.name).toBe("Crew");
  });

  it("member:joined / member:left edit the member list; our own member:left removes the conversation", () => {
    let s = run(ready(0), { type: "conversations:loaded", conversations: [conv(1, { type: "group", name: "G" })] });
    s = reduce(s, { type: "member:joined", at: 0, payload: { conversation_id: 1, user: user(3) } });
    expect(s.conversations["1"].conversation?.members.map((u) => u.id)).toEqual([1, 2, 3]);
    s = reduce(s, { type: "member:left", at: 0, payload: { conversation_id: 1, user: bob } });
    expect(s.conversations["1"].conversation?.members.map((u) => u.id)).toEqual([1, 3]);
    s = reduce(s, { type: "member:left", at: 0, payload: { conversation_id: 1, user: me } });
    expect(s.conversations["1"]).toBeUndefined();
  });

  it("reset clears everything (logout)", () => {
    expect(reduce(run(ready(3)), { type: "reset" })).toEqual(initialState());
  });
});
