import { describe, expect, it } from "vitest";
import { ChatError } from "../../src/core/errors";
import { RestClient, type FetchLike } from "../../src/core/rest";
import { codePointIndex, highlightSegments, MessageSearch, searchSnippet, toUtf16Ranges, type SearchPage, type SearchQuery } from "../../src/core/search";
import { msg } from "./fakes";

/** What the marked parts read as, in order. */
const marked = (body: string, ranges: [number, number][]) => highlightSegments(body, ranges).filter((s) => s.mark).map((s) => s.text);

describe("highlights: code-point ranges into UTF-16 strings", () => {
  it("index every code point boundary, an astral character being two UTF-16 units", () => {
    expect(codePointIndex("abc")).toEqual([0, 1, 2, 3]);
    expect(codePointIndex("😀a")).toEqual([0, 2, 3]);
    expect(codePointIndex("")).toEqual([0]);
  });

  it("plain text: the ranges are the same in both units", () => {
    expect(marked("hello world", [[6, 11]])).toEqual(["world"]);
    expect(highlightSegments("hello world", [[0, 5]])).toEqual([
      { text: "hello", mark: true },
      { text: " world", mark: false },
    ]);
  });

  it("an emoji before the match shifts it by one unit per astral character", () => {
    // Code points: 🎉(0) space(1) c(2) a(3) f(4) é(5): the server says [2, 6).
    expect(marked("🎉 café", [[2, 6]])).toEqual(["café"]);
    expect(marked("👍🏽👍🏽 lunch at noon", [[5, 10]])).toEqual(["lunch"]);
    expect(toUtf16Ranges("😀😀 x", [[3, 4]])).toEqual([[5, 6]]);
  });

  it("marks astral characters inside a match whole, never half a surrogate pair", () => {
    const segs = highlightSegments("say 🍕pizza now", [[4, 10]]);
    expect(segs).toEqual([
      { text: "say ", mark: false },
      { text: "🍕pizza", mark: true },
      { text: " now", mark: false },
    ]);
  });

  it("combining accents count as their own code points, as the server counts them", () => {
    const decomposed = "Cafe\u0301 ouvert"; // e + COMBINING ACUTE: 5 code points for "Café"
    expect(marked(decomposed, [[0, 5]])).toEqual(["Cafe\u0301"]);
  });

  it("several words: sorted, overlaps and touching ranges merged, out of range clamped, empty dropped", () => {
    expect(marked("alpha beta gamma", [[11, 16], [0, 5]])).toEqual(["alpha", "gamma"]);
    expect(marked("alphabet", [[0, 5], [3, 8]])).toEqual(["alphabet"]);
    expect(marked("ab cd", [[0, 2], [2, 3]])).toEqual(["ab "]);
    expect(marked("short", [[2, 99]])).toEqual(["ort"]);
    expect(marked("short", [[3, 3], [4, 1], [-5, 1]])).toEqual(["s"]);
    expect(highlightSegments("no marks", [])).toEqual([{ text: "no marks", mark: false }]);
  });

  it("the snippet of a long body starts shortly before the first match, at a word, with ellipses", () => {
    const body = `${"filler word ".repeat(30)}🎉 the needle is here ${"tail ".repeat(40)}`;
    const cps = [...body];
    const start = cps.indexOf("n", cps.indexOf("🎉"));
    const segs = searchSnippet(body, [[start, start + 6]], { max: 60, before: 20 });
    expect(segs[0]).toEqual({ text: "…", mark: false });
    expect(segs[segs.length - 1]).toEqual({ text: "…", mark: false });
    expect(segs.filter((s) => s.mark).map((s) => s.text)).toEqual(["needle"]);
    const text = segs.map((s) => s.text).join("");
    expect(text).toContain("🎉 the needle");
    expect([...text.slice(1, -1)].length).toBeLessThanOrEqual(60);
    expect(text[1]).not.toBe(" ");
    // A short body is shown whole, without ellipses.
    expect(searchSnippet("short 😀 body", [[8, 12]])).toEqual([
      { text: "short 😀 ", mark: false },
      { text: "body", mark: true },
    ]);
  });
});

function page(ids: number[], next_cursor: string | null): SearchPage {
  return { results: ids.map((id) => ({ message: msg(id, id, { body: `hit ${id}` }), highlights: [[0, 3]] })), next_cursor };
}

/** A fake server: answers are released by the test, in any order. */
function fakeRest() {
  const calls: { query: SearchQuery; resolve: (p: SearchPage) => void; reject: (e: unknown) => void }[] = [];
  const rest = {
    searchMessages: (query: SearchQuery) => new Promise<SearchPage>((resolve, reject) => calls.push({ query, resolve, reject })),
  };
  return { rest, calls };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("MessageSearch: a search box's results and pages", () => {
  it("searches the trimmed query, then appends next pages by cursor until there is none", async () => {
    const { rest, calls } = fakeRest();
    const search = new MessageSearch(rest, 7);
    const first = search.search("  lunch ");
    expect(search.state).toMatchObject({ q: "lunch", loading: true, answered: false });
    expect(calls[0].query).toEqual({ q: "lunch", conversation_id: 7, limit: 20, cursor: null });
    calls[0].resolve(page([30, 29], "c2"));
    await first;
    expect(search.state.results.map((r) => r.message.id)).toEqual([30, 29]);
    expect(search.state).toMatchObject({ next_cursor: "c2", loading: false, answered: true });

    const more = search.more();
    void search.more(); // a second call while loading asks nothing more
    expect(calls).toHaveLength(2);
    expect(calls[1].query.cursor).toBe("c2");
    calls[1].resolve(page([29, 28], null)); // an overlap is not shown twice
    await more;
    expect(search.state.results.map((r) => r.message.id)).toEqual([30, 29, 28]);
    await search.more();
    expect(calls).toHaveLength(2);
  });

  it("an older query's late answer never replaces a newer query's results", async () => {
    const { rest, calls } = fakeRest();
    const search = new MessageSearch(rest);
    void search.search("lu");
    const latest = search.search("lunch");
    calls[1].resolve(page([5], null));
    await latest;
    calls[0].resolve(page([1, 2, 3], null));
    await tick();
    expect(search.state.q).toBe("lunch");
    expect(search.state.results.map((r) => r.message.id)).toEqual([5]);
  });

  it("an empty query clears without a request; a refusal is kept for the screen to show", async () => {
    const { rest, calls } = fakeRest();
    const search = new MessageSearch(rest);
    await search.search("   ");
    expect(calls).toHaveLength(0);
    expect(search.state).toMatchObject({ q: "", results: [], answered: false });

    const long = search.search("x".repeat(201));
    calls[0].reject(new ChatError("validation_error", "q is at most 200 characters", 400));
    await long;
    expect(search.state.error?.code).toBe("validation_error");
    expect(search.state.loading).toBe(false);
    expect(search.state.results).toEqual([]);
  });
});

describe("REST: GET /search/messages", () => {
  it("sends q encoded, the conversation, limit and cursor, and returns the page", async () => {
    const urls: string[] = [];
    const fetch: FetchLike = async (url) => {
      urls.push(url);
      return { status: 200, ok: true, text: async () => JSON.stringify(page([4], "next")) };
    };
    const rest = new RestClient({ baseUrl: "http://srv", fetch, getToken: () => "t" });
    const answer = await rest.searchMessages({ q: "café & co", conversation_id: 3, cursor: "a b" });
    await rest.searchMessages({ q: "x", limit: 5 });
    expect(urls).toEqual([
      "http://srv/api/v1/search/messages?q=caf%C3%A9%20%26%20co&limit=20&conversation_id=3&cursor=a%20b",
      "http://srv/api/v1/search/messages?q=x&limit=5",
    ]);
    expect(answer.next_cursor).toBe("next");
    expect(answer.results[0].highlights).toEqual([[0, 3]]);
  });
});
