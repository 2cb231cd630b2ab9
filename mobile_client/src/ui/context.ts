import type { ChatClient } from "../core/client";
import type { WebPush } from "../platform/webPush";

/** What every screen gets: the core client, navigation, and a way to show errors. */
export interface AppContext {
  client: ChatClient;
  /** Web Push: the permission prompt, the subscription, forgetting it on sign-out. */
  push: WebPush;
  navigate(hash: string): void;
  toast(text: string): void;
  /** The session is over (closed account, revoked elsewhere): the sign-in screen says `why`. */
  signedOut(why: string): void;
  /** What the sign-in screen should say once (then forgotten). */
  takeNotice(): string | null;
}

export interface Screen {
  el: HTMLElement;
  /** Called on every store or outbox change while the screen is shown. */
  update(): void;
  destroy?(): void;
}

export function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string; fields?: Record<string, string> };
  if (err?.fields) return Object.entries(err.fields).map(([k, v]) => `${k}: ${v}`).join("; ");
  return err?.message ?? String(e);
}
