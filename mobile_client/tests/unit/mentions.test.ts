import { describe, expect, it } from "vitest";
import { insertMention, mentionCandidates, mentionQuery, mentionSegments } from "../../src/core/mentions";
import { user } from "./fakes";

const me = user(1, { username: "me", display_name: "Me Myself" });
const bob = user(2, { username: "bob", display_name: "Bob Builder" });
const bobby = user(3, { username: "bobby.tables", display_name: "Robert Tables" });
const ann = user(4, { username: "ann", display_name: "Ann Bobrova" });
const members = [me, bob, bobby, ann];

describe("mentionQuery: the @name being typed before the caret", () => {
  it.each([
    ["@", 1, { start: 0, query: "" }],
    ["hi @bo", 6, { start: 3, query: "bo" }],
    ["hi @bobby.ta", 12, { start: 3, query: "bobby.ta" }],
    ["(@an", 4, { start: 1, query: "an" }],
    ["@bo and more", 3, { start: 0, query: "bo" }],
  ])("%j at %i", (text, caret, expected) => {
    expect(mentionQuery(text, caret)).toEqual(expected);
  });

  it.each([
    ["mail a@bo", 9, "an address, not a mention"],
    ["@@bo", 4, "a doubled @"],
    ["hi bob", 6, "no @"],
    ["@bob done", 9, "the caret left the name"],
    ["éa@bo", 5, "after a letter that is not ASCII"],
  ])("%j at %i is none (%s)", (text, caret) => {
    expect(mentionQuery(text, caret)).toBeNull();
  });
});

describe("mentionCandidates", () => {
  it("matches a prefix of the username or of a word of the display name, never me", () => {
    expect(mentionCandidates(members, "bo", me.id).map((u) => u.username)).toEqual(["bob", "bobby.tables", "ann"]);
    expect(mentionCandidates(members, "ROB", me.id).map((u) => u.username)).toEqual(["bobby.tables"]);
    expect(mentionCandidates(members, "me", me.id)).toEqual([]);
  });

  it("lists everyone for a bare @, up to the limit", () => {
    expect(mentionCandidates(members, "", me.id)).toHaveLength(3);
    expect(mentionCandidates(members, "", me.id, 2)).toHaveLength(2);
  });
});

describe("insertMention", () => {
  it("replaces the query with @username and a space, the caret after it", () => {
    expect(insertMention("hi @bo", 3, 6, "bobby.tables")).toEqual({ text: "hi @bobby.tables ", caret: 17 });
  });

  it("replaces the whole word the caret is in and does not double a following space", () => {
    expect(insertMention("@bo there", 0, 2, "bob")).toEqual({ text: "@bob there", caret: 5 });
    expect(insertMention("x @bxyz", 2, 4, "bob")).toEqual({ text: "x @bob ", caret: 7 });
  });
});

describe("mentionSegments: only the server's mentions are marked", () => {
  const users = new Map(members.map((u) => [u.id, u]));
  const byId = (id: number) => users.get(id);

  it("marks @username of the ids in mentions, case-insensitively", () => {
    expect(mentionSegments("hey @Bob, see @ann", [2, 4], byId)).toEqual([
      { text: "hey " },
      { text: "@Bob", mention: 2 },
      { text: ", see " },
      { text: "@ann", mention: 4 },
    ]);
  });

  it("leaves names that are not in mentions plain (a stranger, or text the server did not count)", () => {
    expect(mentionSegments("@bob and @ann", [4], byId)).toEqual([{ text: "@bob and " }, { text: "@ann", mention: 4 }]);
    expect(mentionSegments("@bob", [], byId)).toEqual([{ text: "@bob" }]);
    expect(mentionSegments("@bob", undefined, byId)).toEqual([{ text: "@bob" }]);
  });

  it("a trailing dot is punctuation unless it is part of the name", () => {
    expect(mentionSegments("thanks @bob.", [2], byId)).toEqual([{ text: "thanks " }, { text: "@bob", mention: 2 }, { text: "." }]);
    expect(mentionSegments("@bobby.tables.", [3], byId)).toEqual([{ text: "@bobby.tables", mention: 3 }, { text: "." }]);
  });

  it("an address is not a mention, and a longer name is not its prefix", () => {
    expect(mentionSegments("mail bob@bob.com or @bobx", [2], byId)).toEqual([{ text: "mail bob@bob.com or @bobx" }]);
  });
});
