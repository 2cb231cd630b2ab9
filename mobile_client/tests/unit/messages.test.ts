import { describe, expect, it } from "vitest";
import { advanceCursor, hasGap, mergeMessages, newerOf } from "../../src/core/messages";
import { msg } from "./fakes";

describe("mergeMessages (dedupe by id)", () => {
  it("keeps one copy per id and sorts by seq", () => {
    const out = mergeMessages([msg(2, 2)], [msg(1, 1), msg(2, 2), msg(3, 3), msg(1, 1)]);
    expect(out.map((m) => m.id)).toEqual([1, 2, 3]);
  });

  it("returns the same array when nothing is new (cheap re-renders)", () => {
    const list = [msg(1, 1)];
    expect(mergeMessages(list, [list[0]])).toBe(list);
  });

  it("a stale copy never undoes an edit or a deletion", () => {
    const edited = msg(1, 1, { body: "new", edited_at: "2026-01-01T00:00:05.000Z" });
    expect(mergeMessages([edited], [msg(1, 1)])[0].body).toBe("new");
    const deleted = msg(1, 1, { deleted: true, body: "" });
    expect(newerOf(deleted, msg(1, 1)).deleted).toBe(true);
    expect(newerOf(msg(1, 1), deleted).deleted).toBe(true);
  });

  it("authoritative updates (message:updated) replace the held copy", () => {
    const reacted = msg(1, 1, { reactions: { "👍": [3] } });
    expect(mergeMessages([msg(1, 1)], [reacted], true)[0].reactions).toEqual({ "👍": [3] });
  });
});

describe("cursor and gap detection by seq", () => {
  it("advances only through contiguous seqs", () => {
    expect(advanceCursor(0, [msg(1, 1), msg(2, 2), msg(4, 4)])).toBe(2);
    expect(advanceCursor(5, [msg(1, 1), msg(6, 6), msg(7, 7)])).toBe(7);
  });

  it("seeing N+2 after N is a gap; N+1 is not", () => {
    expect(hasGap(3, [msg(3, 3), msg(5, 5)])).toBe(true);
    expect(hasGap(4, [msg(3, 3), msg(4, 4)])).toBe(false);
    expect(hasGap(0, [])).toBe(false);
  });
});
