import { ChatError } from "./errors";
import type { RestClient } from "./rest";
import { LIMITS, type Id, type SearchAnswer, type SearchResult } from "./types";

/**
 * v2 message search (PROTOCOL.md "Search"): `GET /search/messages`, its paging, and the
 * highlights turned into text segments. No DOM: a React Native list renders the same segments.
 *
 * The server's `highlights` are `[start, end)` ranges of Unicode code points into the body,
 * while JavaScript strings index UTF-16 code units: an emoji (or any astral character) before
 * a match is one code point but two units, so the ranges are converted before any slicing.
 */

/** One page of `GET /search/messages` (the generated `SearchAnswer`): newest first, `next_cursor` null on the last page. */
export type SearchPage = SearchAnswer;
export type { SearchResult };

export interface SearchQuery {
  q: string;
  /** Only this conversation; absent: every conversation the caller is a member of. */
  conversation_id?: Id | null;
  limit?: number;
  cursor?: string | null;
}

/** The contract's bound on `q` in code points (longer is `validation_error`). */
export const SEARCH_MAX_CHARS: number = LIMITS.maxSearchQueryChars;
/** The contract's default page size (the server clamps `limit` to LIMITS.searchMaxLimit). */
export const SEARCH_PAGE = 20;

export interface MarkedSegment {
  text: string;
  /** A matched range (rendered as <mark>). */
  mark: boolean;
}

/**
 * UTF-16 index of every code point boundary of `s`: `at[i]` is where code point `i` starts,
 * `at[length]` is `s.length`. A lone surrogate counts as one code point, as Python counts it.
 */
export function codePointIndex(s: string): number[] {
  const at: number[] = [];
  let i = 0;
  while (i < s.length) {
    at.push(i);
    const c = s.charCodeAt(i);
    const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    i += c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  at.push(s.length);
  return at;
}

/**
 * Code-point ranges -> UTF-16 ranges of `s`: clamped to the body, empty or inverted ones
 * dropped, sorted, overlapping and touching ones merged (a server answer is data, not trusted
 * to be tidy).
 */
export function toUtf16Ranges(s: string, ranges: readonly (readonly [number, number])[]): [number, number][] {
  const at = codePointIndex(s);
  const count = at.length - 1;
  const clamp = (n: number) => Math.max(0, Math.min(count, Math.trunc(Number.isFinite(n) ? n : 0)));
  const cps = ranges
    .filter((r) => Array.isArray(r) && r.length >= 2)
    .map(([a, b]) => [clamp(a), clamp(b)] as [number, number])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of cps) {
    const last = merged[merged.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }
  return merged.map(([a, b]) => [at[a], at[b]]);
}

/** The whole body as plain and marked segments. */
export function highlightSegments(body: string, highlights: readonly (readonly [number, number])[]): MarkedSegment[] {
  return segmentsOf(body, toUtf16Ranges(body, highlights), 0, body.length);
}

/**
 * A window of the body for a result row: up to `max` code points, starting `before` code
 * points ahead of the first match (at a space when one is near), "…" where text was left
 * out. A short body is returned whole.
 */
export function searchSnippet(
  body: string,
  highlights: readonly (readonly [number, number])[],
  opts: { max?: number; before?: number } = {},
): MarkedSegment[] {
  const max = opts.max ?? 160;
  const before = opts.before ?? 30;
  const at = codePointIndex(body);
  const count = at.length - 1;
  const ranges = toUtf16Ranges(body, highlights);
  if (count <= max) return segmentsOf(body, ranges, 0, body.length);
  const firstCp = ranges.length ? at.indexOf(ranges[0][0]) : 0;
  let startCp = Math.max(0, Math.min(firstCp - before, count - max));
  // Begin at a word when one starts within a few characters of the cut.
  if (startCp > 0) {
    for (let k = startCp; k < Math.min(firstCp, startCp + 12); k++) {
      if (/\s/.test(body.slice(at[k], at[k + 1]))) {
        startCp = k + 1;
        break;
      }
    }
  }
  const endCp = Math.min(count, startCp + max);
  const out = segmentsOf(body, ranges, at[startCp], at[endCp]);
  if (startCp > 0) out.unshift({ text: "…", mark: false });
  if (endCp < count) out.push({ text: "…", mark: false });
  return out;
}

function segmentsOf(s: string, ranges: [number, number][], from: number, to: number): MarkedSegment[] {
  const out: MarkedSegment[] = [];
  let pos = from;
  for (const [a0, b0] of ranges) {
    const a = Math.max(a0, from);
    const b = Math.min(b0, to);
    if (b <= a) continue;
    if (a > pos) out.push({ text: s.slice(pos, a), mark: false });
    out.push({ text: s.slice(a, b), mark: true });
    pos = b;
  }
  if (pos < to) out.push({ text: s.slice(pos, to), mark: false });
  return out;
}

export interface SearchState {
  /** The query as sent (trimmed); "" before any search. */
  q: string;
  conversation_id: Id | null;
  results: SearchResult[];
  next_cursor: string | null;
  loading: boolean;
  /** The last failure (a `validation_error` for a query over 200 characters, say). */
  error: ChatError | null;
  /** An answer for `q` has arrived (so "no results" can be told from "not searched yet"). */
  answered: boolean;
}

const idle = (conversation_id: Id | null = null): SearchState => ({
  q: "",
  conversation_id,
  results: [],
  next_cursor: null,
  loading: false,
  error: null,
  answered: false,
});

/**
 * One search box's state: the latest query's first page, then further pages with
 * `next_cursor`. Answers to a query that was replaced meanwhile are dropped, so fast typing
 * never shows an older query's results over a newer one's.
 */
export class MessageSearch {
  private current: SearchState;
  private generation = 0;
  private listeners = new Set<(s: SearchState) => void>();

  constructor(
    private readonly rest: Pick<RestClient, "searchMessages">,
    conversationId: Id | null = null,
    private readonly limit = SEARCH_PAGE,
  ) {
    this.current = idle(conversationId);
  }

  get state(): SearchState {
    return this.current;
  }

  onChange(fn: (s: SearchState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Searches `q` (trimmed; empty clears the results without a request). */
  async search(q: string, conversationId: Id | null = this.current.conversation_id): Promise<void> {
    const query = q.trim();
    const gen = ++this.generation;
    if (!query) {
      this.set(idle(conversationId));
      return;
    }
    this.set({ ...idle(conversationId), q: query, loading: true });
    await this.fetch(gen, null);
  }

  /** The next page of the current query; nothing when there is none or one is loading. */
  async more(): Promise<void> {
    const s = this.current;
    if (!s.q || !s.next_cursor || s.loading) return;
    this.set({ ...s, loading: true, error: null });
    await this.fetch(this.generation, s.next_cursor);
  }

  private async fetch(gen: number, cursor: string | null): Promise<void> {
    const s = this.current;
    try {
      const page = await this.rest.searchMessages({ q: s.q, conversation_id: s.conversation_id, limit: this.limit, cursor });
      if (gen !== this.generation) return;
      const seen = new Set(this.current.results.map((r) => r.message.id));
      const fresh = (page.results ?? []).filter((r) => r?.message && !seen.has(r.message.id));
      this.set({
        ...this.current,
        results: [...this.current.results, ...fresh],
        next_cursor: page.next_cursor ?? null,
        loading: false,
        error: null,
        answered: true,
      });
    } catch (e) {
      if (gen !== this.generation) return;
      const err = e instanceof ChatError ? e : new ChatError("network", String(e));
      this.set({ ...this.current, loading: false, error: err, answered: cursor !== null || this.current.answered });
    }
  }

  private set(s: SearchState): void {
    this.current = s;
    for (const fn of this.listeners) fn(s);
  }
}
