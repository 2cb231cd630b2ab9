import { describe, expect, it } from "vitest";
import { nextSyncRequest } from "../../src/core/client";
import type { Action } from "../../src/core/events";
import { reduce } from "../../src/core/reducer";
import { sortedConversations, syncRequest } from "../../src/core/selectors";
import { initialState, type ChatState } from "../../src/core/state";
import type { Conversation, Message } from "../../src/core/types";
import { msg, user } from "./fakes";

/** v2 catch-up as the store sees it: sync pages, live versions, and what a device shows after. */

const me = user(1);
const bob = user(2);

function conv(id: number, extra: Partial<Conversation> = {}): Conversation {
  return {
    id,
    type: "group",
    name: `G${id}`,
    members: [me, bob],
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

const vmsg = (id: number, seq: number, version: number, extra: Partial<Message> = {}): Message => msg(id, seq, { version, ...extra });

function page(p: Partial<Extract<Action, { type: "sync:applied" }>>): Action {
  return { type: "sync:applied", messages: [], changes: [], conversations: [], removed: [], ...p };
}

function run(...actions: Action[]): ChatState {
  return actions.reduce(reduce, { ...initialState(), me });
}

/** A device that caught up once: conversation 1 at cursor 2 / version 5, holding seq 1-2. */
function synced(): ChatState {
  return run(
    page({
      conversations: [conv(1, { last_seq: 2, version: 5, last_message: vmsg(2, 2, 3) })],
      messages: [vmsg(1, 1, 2), vmsg(2, 2, 3)],
      cursors: { "1": 2 },
      versions: { "1": 5 },
    }),
  );
}

describe("applying a sync answer", () => {
  it("keeps the cursors and versions the server advanced, and asks from them next time", () => {
    const s = synced();
    expect(s.conversations["1"]).toMatchObject({ cursor: 2, version: 5, last_seq: 2 });
    expect(syncRequest(s)).toEqual({ cursors: { "1": 2 }, versions: { "1": 5 } });
  });

  it("an edit, a deletion and a reaction in `changes` replace the held copies; a deleted one shows exactly as a live delete would", () => {
    const s = reduce(
      synced(),
      page({
        changes: [
          vmsg(1, 1, 6, { body: "edited", edited_at: "2026-01-02T00:00:00.000Z", reactions: { "👍": [2] } }),
          vmsg(2, 2, 7, { deleted: true, body: "", reactions: {}, mentions: [] }), // as a v2 server renders it
        ],
        conversations: [conv(1, { last_seq: 2, version: 7, last_message: vmsg(2, 2, 7, { deleted: true, body: "" }) })],
        cursors: { "1": 2 },
        versions: { "1": 7 },
      }),
    );
    const [m1, m2] = s.conversations["1"].messages;
    expect(m1).toMatchObject({ body: "edited", reactions: { "👍": [2] } });
    const live = reduce(synced(), { type: "message:deleted", at: 0, payload: { conversation_id: 1, message_id: 2, seq: 2, version: 7 } });
    expect(m2).toEqual(live.conversations["1"].messages[1]);
    expect(m2).toMatchObject({ deleted: true, body: "" });
    expect(s.conversations["1"].conversation?.last_message).toMatchObject({ id: 2, deleted: true });
    expect(s.conversations["1"].version).toBe(7);
  });

  it("a change to a message the device does not hold is not inserted (no hole in the list), but the preview follows", () => {
    let s = run(
      page({
        conversations: [conv(1, { last_seq: 120, version: 200, last_message: vmsg(120, 120, 199) })],
        messages: [],
        cursors: { "1": 120 },
        versions: { "1": 200 },
      }),
    );
    s = reduce(s, { type: "history:loaded", conversation_id: 1, messages: [vmsg(119, 119, 150), vmsg(120, 120, 199)], has_more: true, older: false });
    s = reduce(s, page({ changes: [vmsg(5, 5, 201, { body: "old, edited" }), vmsg(120, 120, 202, { deleted: true, body: "" })], cursors: { "1": 120 }, versions: { "1": 202 } }));
    expect(s.conversations["1"].messages.map((m) => m.seq)).toEqual([119, 120]);
    expect(s.conversations["1"].messages[1].deleted).toBe(true);
    expect(s.conversations["1"].conversation?.last_message?.deleted).toBe(true);
  });

  it("renames and member changes arrive as conversation objects; an older copy never overwrites a newer one", () => {
    let s = reduce(synced(), page({ conversations: [conv(1, { name: "Renamed", members: [me, bob, user(3)], version: 8, last_seq: 2 })], cursors: { "1": 2 }, versions: { "1": 8 } }));
    expect(s.conversations["1"].conversation).toMatchObject({ name: "Renamed" });
    expect(s.conversations["1"].conversation?.members.map((u) => u.id)).toEqual([1, 2, 3]);
    s = reduce(s, { type: "conversation:updated", at: 0, payload: { conversation: conv(1, { name: "Stale", version: 6, last_seq: 2 }) } });
    expect(s.conversations["1"].conversation?.name).toBe("Renamed");
  });

  it("a removed conversation leaves the list and the next request; one added while away joins both", () => {
    const s = reduce(synced(), page({ removed: [1], conversations: [conv(9, { last_seq: 40, version: 77, name: "New group" })], cursors: { "9": 40 }, versions: { "9": 77 } }));
    expect(s.conversations["1"]).toBeUndefined();
    expect(sortedConversations(s).map((c) => c.id)).toEqual([9]);
    // Added at its current position: its older history comes over REST when opened.
    expect(s.conversations["9"]).toMatchObject({ cursor: 40, version: 77 });
    expect(syncRequest(s)).toEqual({ cursors: { "9": 40 }, versions: { "9": 77 } });
  });

  it("new messages after the cursor are appended; a sync copy older than a live one loses", () => {
    let s = synced();
    s = reduce(s, { type: "message:updated", at: 0, payload: { message: vmsg(1, 1, 9, { body: "live, newer" }) } });
    s = reduce(s, page({ changes: [vmsg(1, 1, 8, { body: "sync, older" })], messages: [vmsg(3, 3, 10)], cursors: { "1": 3 }, versions: { "1": 10 } }));
    expect(s.conversations["1"].messages.map((m) => m.body)).toEqual(["live, newer", "m2", "m3"]);
    expect(s.conversations["1"]).toMatchObject({ cursor: 3, version: 10 });
  });

  it("a held cursor or version ahead of the answer (a live event overtook it) is kept", () => {
    let s = synced();
    s = reduce(s, { type: "message:new", at: 0, payload: { message: vmsg(3, 3, 6) } });
    expect(s.conversations["1"]).toMatchObject({ cursor: 3, version: 6 });
    s = reduce(s, page({ cursors: { "1": 2 }, versions: { "1": 5 } }));
    expect(s.conversations["1"]).toMatchObject({ cursor: 3, version: 6 });
  });
});

describe("live events and the held version", () => {
  it("exactly held+1 advances it, for every versioned event", () => {
    const events: Action[] = [
      { type: "message:new", at: 0, payload: { message: vmsg(3, 3, 6) } },
      { type: "message:updated", at: 0, payload: { message: vmsg(3, 3, 7, { body: "x", edited_at: "2026-01-03T00:00:00.000Z" }) } },
      { type: "message:deleted", at: 0, payload: { conversation_id: 1, message_id: 3, seq: 3, version: 8 } },
      { type: "read", at: 0, payload: { conversation_id: 1, user_id: 2, seq: 3, version: 9 } },
      { type: "delivered", at: 0, payload: { conversation_id: 1, user_id: 2, seq: 3, version: 10 } },
      { type: "member:joined", at: 0, payload: { conversation_id: 1, user: user(3), version: 11 } },
      { type: "member:left", at: 0, payload: { conversation_id: 1, user: user(3), version: 12 } },
      { type: "conversation:updated", at: 0, payload: { conversation: conv(1, { version: 13, last_seq: 3 }) } },
    ];
    let s = synced();
    events.forEach((e, i) => {
      s = reduce(s, e);
      expect(s.conversations["1"].version).toBe(6 + i);
    });
  });

  it("a jump (something missed) or a repeat leaves it for the next sync, though the event itself applies", () => {
    let s = reduce(synced(), { type: "message:updated", at: 0, payload: { message: vmsg(1, 1, 7, { body: "jumped", edited_at: "2026-01-03T00:00:00.000Z" }) } });
    expect(s.conversations["1"].messages[0].body).toBe("jumped");
    expect(s.conversations["1"].version).toBe(5);
    s = reduce(s, { type: "read", at: 0, payload: { conversation_id: 1, user_id: 2, seq: 2, version: 5 } });
    expect(s.conversations["1"].version).toBe(5);
    // Without a held version (never synced) nothing is vouched for.
    const fresh = run({ type: "conversation:new", at: 0, payload: { conversation: conv(4, { version: 1 }) } });
    expect(fresh.conversations["4"].version).toBeNull();
    expect(syncRequest(fresh)).toEqual({ cursors: {}, versions: {} });
  });

  it("events without a version (v1 server) never touch it", () => {
    const s = reduce(synced(), { type: "message:new", at: 0, payload: { message: msg(3, 3) } });
    expect(s.conversations["1"].version).toBe(5);
    expect(s.conversations["1"].cursor).toBe(3);
  });
});

describe("paging a v2 sync", () => {
  it("uses the server's cursors and versions when it sends them", () => {
    const next = nextSyncRequest(
      { cursors: { "1": 2 }, versions: { "1": 5 } },
      { messages: [vmsg(3, 3, 6)], has_more: true, changes: [], conversations: [], removed: [], cursors: { "1": 3, "9": 40 }, versions: { "1": 6, "9": 77 } },
    );
    expect(next).toEqual({ cursors: { "1": 3, "9": 40 }, versions: { "1": 6, "9": 77 } });
  });

  it("without them, advances by the contract: highest seq, highest version, new ones added, removed ones dropped", () => {
    const next = nextSyncRequest(
      { cursors: { "1": 2, "2": 7 }, versions: { "1": 5, "2": 9 } },
      {
        messages: [vmsg(3, 3, 8), vmsg(4, 4, 9)],
        changes: [vmsg(1, 1, 6)],
        has_more: true,
        conversations: [conv(1, { version: 9, last_seq: 4 }), conv(9, { last_seq: 40, version: 77 })],
        removed: [2],
      },
    );
    expect(next).toEqual({ cursors: { "1": 4, "9": 40 }, versions: { "1": 9, "9": 77 } });
  });
});
