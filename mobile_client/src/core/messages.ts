import type { Message } from "./types";

/**
 * Pure helpers over a seq-sorted message list. Dedupe is by `id`: the same message can
 * arrive from the send ack, its own `message:new` echo, a sync and a history page.
 */

/**
 * Which of two copies of one message to keep: deletions win, then the higher `version`
 * (v2: a sync answer may be older than a live event that overtook it), then later edits.
 */
export function newerOf(held: Message, incoming: Message): Message {
  if (held.deleted && !incoming.deleted) return held;
  if (incoming.deleted && !held.deleted) return incoming;
  if (held.version !== undefined && incoming.version !== undefined && held.version !== incoming.version) {
    return incoming.version > held.version ? incoming : held;
  }
  const a = held.edited_at ?? "";
  const b = incoming.edited_at ?? "";
  if (a > b) return held;
  return incoming;
}

/**
 * Merges messages into a sorted list, deduplicating by id. `authoritative` copies
 * (message:updated) replace the held one outright; others go through newerOf.
 * Returns the same array when nothing changed, so subscribers can skip work.
 */
export function mergeMessages(list: Message[], incoming: Message[], authoritative = false): Message[] {
  if (incoming.length === 0) return list;
  const byId = new Map<number, Message>();
  for (const m of list) byId.set(m.id, m);
  let changed = false;
  for (const m of incoming) {
    const held = byId.get(m.id);
    const next = held ? (authoritative && !isOlder(m, held) ? m : newerOf(held, m)) : m;
    if (next !== held) {
      byId.set(m.id, next);
      changed = true;
    }
  }
  if (!changed) return list;
  return [...byId.values()].sort((x, y) => x.seq - y.seq);
}

/** True when both copies carry a version and `a` is older than `b`. */
export function isOlder(a: { version?: number }, b: { version?: number }): boolean {
  return a.version !== undefined && b.version !== undefined && a.version < b.version;
}

/** Advances a sync cursor through contiguous seqs present in the sorted list. */
export function advanceCursor(cursor: number, list: Message[]): number {
  let c = cursor;
  for (const m of list) {
    if (m.seq <= c) continue;
    if (m.seq === c + 1) c = m.seq;
    else break;
  }
  return c;
}

/** True when a held message sits beyond cursor + 1: something in between was missed. */
export function hasGap(cursor: number, list: Message[]): boolean {
  const last = list[list.length - 1];
  return last !== undefined && last.seq > cursor;
}

/** Seqs missing between two held messages: history not loaded yet (a jump far back leaves one). */
export interface Hole {
  /** The held message just below the hole, and the one just above it. */
  after: number;
  before: number;
  /** How many messages are missing (seqs are gapless, deleted ones included). */
  missing: number;
}

/**
 * The holes of a seq-sorted list. Seqs are gapless per conversation and history returns
 * deleted messages too, so any jump in seq between neighbours is history not loaded yet.
 */
export function holes(list: Message[]): Hole[] {
  const out: Hole[] = [];
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1].seq;
    const b = list[i].seq;
    if (b > a + 1) out.push({ after: a, before: b, missing: b - a - 1 });
  }
  return out;
}
