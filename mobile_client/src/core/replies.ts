import type { Id, Message, ReplyPreview } from "./types";

/**
 * v2 replies (PROTOCOL.md "Replies"): pure helpers over `Message.reply_to`.
 *
 * The server quotes the original as it is now and sends a `message:updated` for every reply
 * when the original is edited or deleted. The reducer also patches the quotes it holds the
 * moment the original changes, so a reply never shows older text than its original for the
 * round trip in between (and the reply's own update, with a higher version, wins anyway).
 */

/** The server cuts the quoted body to this many code points. */
export const QUOTE_MAX_CHARS = 200;

/** The preview a reply to `m` carries, computed the way the server does. */
export function quoteOf(m: Pick<Message, "id" | "seq" | "sender_id" | "body" | "deleted">): ReplyPreview {
  return { id: m.id, seq: m.seq, sender_id: m.sender_id, ...quoteChange(m) };
}

/** What changed about an original: its id, and its text or deletion now. */
export type QuoteChange = Pick<Message, "id" | "conversation_id" | "body" | "deleted">;

/** The quote fields an original's change rewrites (id, seq and sender never change). */
export function quoteChange(m: Pick<Message, "body" | "deleted">): Pick<ReplyPreview, "body" | "deleted"> {
  return { body: m.deleted ? "" : [...m.body].slice(0, QUOTE_MAX_CHARS).join(""), deleted: m.deleted };
}

/**
 * Held replies quoting any of `originals`, their quote brought up to date. Returns the same
 * array when nothing changed (subscribers skip work). A deleted reply carries no quote and is
 * left alone.
 */
export function patchQuotes(messages: Message[], originals: QuoteChange[]): Message[] {
  if (originals.length === 0) return messages;
  const now = new Map<Id, Pick<ReplyPreview, "body" | "deleted">>(originals.map((o) => [o.id, quoteChange(o)]));
  let out: Message[] | null = null;
  messages.forEach((m, i) => {
    const q = m.reply_to;
    const next = q ? now.get(q.id) : undefined;
    if (!q || !next || m.deleted || (q.body === next.body && q.deleted === next.deleted)) return;
    out ??= [...messages];
    out[i] = { ...m, reply_to: { ...q, ...next } };
  });
  return out ?? messages;
}

/** A single line for a quote strip or bubble: newlines folded, cut to `max` code points. */
export function quoteSnippet(q: Pick<ReplyPreview, "body" | "deleted">, max = 90): string {
  if (q.deleted) return "";
  const line = q.body.replace(/\s+/g, " ").trim();
  const chars = [...line];
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : line;
}
