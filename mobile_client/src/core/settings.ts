import type { Conversation } from "./types";

/**
 * v2 per-conversation notification settings (PROTOCOL "Mentions and notification settings"):
 * the level and the mute, as the server keeps them on the caller's Conversation. Pure helpers,
 * shared by every UI.
 */

export type NotificationLevel = NonNullable<Conversation["notifications"]>;
export const NOTIFICATION_LEVELS: readonly NotificationLevel[] = ["all", "mentions", "none"];

/** What `PATCH /conversations/<id>/settings` takes; an absent field is left as it is. */
export interface SettingsChange {
  notifications?: NotificationLevel;
  /** ISO time, or null to unmute. */
  muted_until?: string | null;
}

export type MuteChoice = "1h" | "8h" | "1w" | "always";

/**
 * "Mute always" is a time far enough away rather than a separate flag: the contract has only
 * `muted_until`, and the server stores anything later as this very bound.
 */
export const MUTE_FOREVER = "9999-01-01T00:00:00.000Z";

const HOUR = 3_600_000;
const MUTE_MS: Record<Exclude<MuteChoice, "always">, number> = { "1h": HOUR, "8h": 8 * HOUR, "1w": 7 * 24 * HOUR };

/** The `muted_until` to send for a mute chosen at `now` (epoch ms). */
export function muteUntil(choice: MuteChoice, now: number): string {
  return choice === "always" ? MUTE_FOREVER : new Date(now + MUTE_MS[choice]).toISOString();
}

export interface NotificationState {
  /** The level the user chose (what the sheet shows checked), muted or not. */
  level: NotificationLevel;
  /** Until when it is muted; null when not muted (or the mute has run out). */
  mutedUntil: string | null;
  /** Muted with no end in sight (the "Always" choice). */
  forever: boolean;
  /** Nothing is pushed: muted, or the level is none. The list shows the muted icon. */
  quiet: boolean;
}

/** The caller's settings in a conversation at `now`; a v1 server's conversation reads as "all". */
export function notificationState(c: Conversation | null | undefined, now: number): NotificationState {
  const level = c?.notifications ?? "all";
  const until = c?.muted_until ?? null;
  const at = until ? Date.parse(until) : NaN;
  const muted = Number.isFinite(at) && at > now;
  return {
    level,
    mutedUntil: muted ? until : null,
    forever: muted && new Date(at).getUTCFullYear() >= 9999,
    quiet: muted || level === "none",
  };
}
