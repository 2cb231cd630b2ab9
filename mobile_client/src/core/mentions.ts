import type { Id, User } from "./types";

/**
 * v2 mentions on the client: the composer's `@` autocomplete and finding the mentions in a
 * body for highlighting. Pure string work, no DOM.
 *
 * The server decides who is mentioned (`message.mentions`, members only); the client only
 * marks the `@username` text of those ids, read with the server's own rule
 * (chatapp/services/mentions.py): "@" not after a word character or another "@" (so
 * "a@b.com" is no mention), then 3 to 32 of [A-Za-z0-9_.-], a trailing dot allowed to be
 * punctuation ("thanks @bob.").
 */

const NAME_CHAR = /[A-Za-z0-9_.-]/;
/** Python's \w with Unicode, near enough: letters, marks, digits, underscore. */
const WORD_CHAR = /[\p{L}\p{M}\p{N}_]/u;
const MENTION = /(?<![\p{L}\p{M}\p{N}_@])@([A-Za-z0-9_.-]{3,32})/gu;
const MAX_NAME = 32;

export interface MentionQuery {
  /** Index of the "@". */
  start: number;
  /** What follows it up to the caret (possibly empty: "@" alone lists everyone). */
  query: string;
}

/** The `@name` being typed just before the caret, or null when the caret is not in one. */
export function mentionQuery(text: string, caret: number): MentionQuery | null {
  let i = caret;
  while (i > 0 && caret - i < MAX_NAME && NAME_CHAR.test(text[i - 1])) i--;
  if (i === 0 || text[i - 1] !== "@") return null;
  const at = i - 1;
  const before = at > 0 ? text[at - 1] : "";
  if (before && (before === "@" || WORD_CHAR.test(before))) return null;
  return { start: at, query: text.slice(i, caret) };
}

/**
 * Members to offer for a query: username or any word of the display name starting with it
 * (case-insensitive), never the user themselves; username matches first, then by name.
 */
export function mentionCandidates(members: User[], query: string, meId: Id | null | undefined, limit = 8): User[] {
  const q = query.toLowerCase();
  const scored: [number, User][] = [];
  for (const u of members) {
    if (u.id === meId) continue;
    const byName = u.username.toLowerCase().startsWith(q);
    const byDisplay = (u.display_name ?? "")
      .toLowerCase()
      .split(/\s+/)
      .some((w) => w.startsWith(q));
    if (byName || byDisplay) scored.push([byName ? 0 : 1, u]);
  }
  scored.sort((a, b) => a[0] - b[0] || (a[1].display_name || a[1].username).localeCompare(b[1].display_name || b[1].username));
  return scored.slice(0, limit).map(([, u]) => u);
}

/**
 * Replaces the `@query` at `start` (and the rest of the word the caret sits in) with
 * `@username ` and returns the new text and where the caret goes (after the space).
 */
export function insertMention(text: string, start: number, caret: number, username: string): { text: string; caret: number } {
  let end = Math.max(caret, start + 1);
  while (end < text.length && NAME_CHAR.test(text[end])) end++;
  const spaced = text[end] === " ";
  const inserted = `@${username}${spaced ? "" : " "}`;
  return { text: text.slice(0, start) + inserted + text.slice(end), caret: start + inserted.length + (spaced ? 1 : 0) };
}

export interface Segment {
  text: string;
  /** Set on the `@username` of a mentioned member. */
  mention?: Id;
}

/**
 * Splits a body into plain text and the mentions of `mentions` (ids from the server),
 * matched to `@username` by the users' names. Text naming someone who is not in `mentions`
 * (a stranger, a former member) stays plain: the highlight never claims more than the server.
 */
export function mentionSegments(body: string, mentions: Id[] | undefined, userById: (id: Id) => User | undefined): Segment[] {
  if (!mentions?.length || !body.includes("@")) return [{ text: body }];
  const byName = new Map<string, Id>();
  for (const id of mentions) {
    const u = userById(id);
    if (u) byName.set(u.username.toLowerCase(), id);
  }
  if (byName.size === 0) return [{ text: body }];
  const out: Segment[] = [];
  let from = 0;
  for (const m of body.matchAll(MENTION)) {
    const raw = m[1];
    let name = raw;
    let id = byName.get(raw.toLowerCase());
    if (id === undefined) {
      name = raw.replace(/\.+$/, "");
      if (name.length >= 3) id = byName.get(name.toLowerCase());
    }
    if (id === undefined) continue;
    const at = m.index;
    if (at > from) out.push({ text: body.slice(from, at) });
    out.push({ text: `@${name}`, mention: id });
    from = at + 1 + name.length;
  }
  if (from < body.length) out.push({ text: body.slice(from) });
  return out.length ? out : [{ text: body }];
}
