import type { ChatClient } from "../core/client";
import type { ChatState } from "../core/state";

/**
 * Web Push for the PWA: permission, the browser's PushSubscription and its registration on
 * the server (PROTOCOL v2 "Notifications for devices that are not listening").
 *
 * When to ask: never on first load. The in-app prompt (src/ui/pushPrompt.ts) appears once the
 * user has a conversation, so the browser's permission dialog follows a click on "Turn on"
 * that says what it is for. "Not now" is remembered per account on this device.
 *
 * Staying registered: the server keeps a subscription per device and deletes it when the
 * login is revoked (sign out) or the push service says it is gone, so once push is on, each
 * connect registers the current subscription again (idempotent: same endpoint, same id).
 */
export type PushChoice = "on" | "dismissed";
export type TurnOnResult = "subscribed" | "denied" | "unsupported";

const PREF_PREFIX = "chat.push.";

export class WebPush {
  private registered = false;

  constructor(
    private readonly client: ChatClient,
    private readonly prefs: Storage | null = safeLocalStorage(),
  ) {}

  /** Service worker, PushManager and Notification are all there (not iOS Safari in a tab). */
  get supported(): boolean {
    return typeof navigator !== "undefined" && "serviceWorker" in navigator && typeof PushManager !== "undefined" && typeof Notification !== "undefined";
  }

  get permission(): NotificationPermission | "unsupported" {
    return this.supported ? Notification.permission : "unsupported";
  }

  /** What this account chose on this device; null: not asked yet. */
  choice(): PushChoice | null {
    const id = this.client.me?.id;
    if (id === undefined) return null;
    try {
      const v = this.prefs?.getItem(PREF_PREFIX + id);
      return v === "on" || v === "dismissed" ? v : null;
    } catch {
      return null;
    }
  }

  private setChoice(choice: PushChoice): void {
    const id = this.client.me?.id;
    if (id === undefined) return;
    try {
      this.prefs?.setItem(PREF_PREFIX + id, choice);
    } catch {
      // Storage blocked: the prompt may show again next time, nothing worse.
    }
  }

  /** The in-app prompt's moment: push can work, nobody answered yet, and there is a conversation. */
  shouldPrompt(state: ChatState): boolean {
    if (!this.supported || this.permission === "denied" || this.choice() !== null) return false;
    return Object.values(state.conversations).some((c) => c.conversation && c.conversation.is_member !== false);
  }

  dismiss(): void {
    this.setChoice("dismissed");
  }

  /** "Turn on": the browser's permission dialog, then subscribe and register. Throws on a failure to subscribe. */
  async turnOn(): Promise<TurnOnResult> {
    if (!this.supported) return "unsupported";
    // Answers at once, without a dialog, when the site is already allowed.
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      this.setChoice("dismissed");
      return "denied";
    }
    await this.register();
    this.setChoice("on");
    return "subscribed";
  }

  /** Push is on for this account on this device (the settings screen's switch). */
  get enabled(): boolean {
    return this.supported && this.choice() === "on" && Notification.permission === "granted";
  }

  /**
   * The settings switch off: the server forgets this device's subscription and the browser
   * drops it, so nothing is pushed here until it is turned on again.
   */
  async turnOff(): Promise<void> {
    this.setChoice("dismissed");
    this.registered = false;
    if (!this.supported) return;
    const reg = await navigator.serviceWorker.getRegistration();
    const sub = await reg?.pushManager.getSubscription();
    if (!sub) return;
    const keys = sub.toJSON().keys ?? {};
    // The server never echoes endpoints: registering again (idempotent) names its id.
    if (keys.p256dh && keys.auth) {
      const info = await this.client.registerPush({ type: "webpush", endpoint: sub.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, device_name: deviceName() });
      await this.client.rest.unsubscribePush(info.id);
    }
    await sub.unsubscribe();
  }

  /**
   * After each connect: re-register when push is on here (the server may have dropped the
   * subscription; a new login on this device needs it bound to the new token).
   */
  async ensureRegistered(): Promise<void> {
    if (this.registered || !this.supported || this.choice() !== "on" || Notification.permission !== "granted") return;
    await this.register();
  }

  /**
   * Signing out: the server deletes the login's subscriptions; the browser's goes too, so
   * nothing is left that could be handed to the next account by mistake.
   */
  async forgetDevice(): Promise<void> {
    this.registered = false;
    if (!this.supported) return;
    try {
      const reg = await navigator.serviceWorker.getRegistration();
      const sub = await reg?.pushManager.getSubscription();
      await sub?.unsubscribe();
    } catch {
      // No worker or no subscription: nothing to forget.
    }
  }

  /** Subscribes through the service worker with the server's VAPID key, then POSTs it. */
  private async register(): Promise<void> {
    const { webpush } = await this.client.pushConfig();
    const key = base64UrlToBytes(webpush.public_key);
    const reg = await navigator.serviceWorker.ready;
    let sub = await reg.pushManager.getSubscription();
    // A subscription made for another key (the server's VAPID key changed) cannot be reused.
    if (sub && !sameKey(sub.options.applicationServerKey, key)) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    const keys = sub.toJSON().keys ?? {};
    if (!keys.p256dh || !keys.auth) throw new Error("The browser's push subscription has no keys");
    await this.client.registerPush({ type: "webpush", endpoint: sub.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, device_name: deviceName() });
    this.registered = true;
  }
}

/** The service worker closes a conversation's notifications once it is open on screen. */
export function conversationSeen(conversationId: number): void {
  if (typeof navigator === "undefined" || !("serviceWorker" in navigator)) return;
  void navigator.serviceWorker.ready
    .then((reg) => reg.active?.postMessage({ type: "conversation-opened", conversation_id: conversationId }))
    .catch(() => undefined);
}

/**
 * "Chrome on Android": how the device shows in the user's list of devices. The service
 * worker has the same function (public/sw.js) for subscriptions it renews on its own.
 */
export function deviceName(ua = navigator.userAgent): string {
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

export function base64UrlToBytes(s: string): Uint8Array<ArrayBuffer> {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function sameKey(held: ArrayBuffer | null, key: Uint8Array): boolean {
  if (!held) return true; // unknown: try it, the server refuses nothing for it
  const a = new Uint8Array(held);
  return a.length === key.length && a.every((b, i) => b === key[i]);
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    return null;
  }
}
