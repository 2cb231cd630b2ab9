import type { ChatClient } from "../core/client";
import { WebPush } from "../platform/webPush";
import { forgetMedia } from "./media";
import { h } from "./dom";
import type { AppContext, Screen } from "./context";
import { authScreen } from "./screens/auth";
import { chatScreen } from "./screens/chat";
import { groupInfoScreen } from "./screens/groupInfo";
import { listScreen } from "./screens/list";
import { newChatScreen } from "./screens/newChat";
import { roomsScreen } from "./screens/rooms";
import { forgetSearches, searchScreen } from "./screens/search";
import { settingsScreen } from "./screens/settings";
import type { SignedOutReason } from "../core/client";

const APP_NAME = "Chat";

/**
 * Shell: hash router, offline/connecting banner, toasts, and the total-unread badge in
 * the document title. Screens only render; all state lives in the core store.
 */
export function startApp(root: HTMLElement, client: ChatClient): void {
  const banner = h("div", { class: "banner", role: "status", hidden: true });
  const toasts = h("div", { class: "toasts", "aria-live": "assertive" });
  const outlet = h("div", { class: "outlet" });
  root.append(banner, outlet, toasts);
  let screen: Screen | null = null;

  const push = new WebPush(client);
  let notice: string | null = null;
  const ctx: AppContext = {
    client,
    push,
    navigate: (hash) => {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    toast: (text) => {
      const t = h("div", { class: "toast" }, text);
      toasts.append(t);
      setTimeout(() => t.remove(), 4000);
    },
    signedOut: (why) => {
      notice = why;
      ctx.navigate("#/login");
    },
    takeNotice: () => {
      const n = notice;
      notice = null;
      return n;
    },
  };

  function route() {
    screen?.destroy?.();
    const hash = location.hash || "#/";
    const signedIn = Boolean(client.token);
    let m: RegExpMatchArray | null;
    if (!signedIn) screen = authScreen(ctx);
    else if ((m = hash.match(/^#\/c\/(\d+)\/info$/))) screen = groupInfoScreen(ctx, Number(m[1]));
    else if ((m = hash.match(/^#\/c\/(\d+)\/search$/))) screen = searchScreen(ctx, Number(m[1]));
    // A search result: the conversation opened at that message.
    else if ((m = hash.match(/^#\/c\/(\d+)\/m\/(\d+)$/))) screen = chatScreen(ctx, Number(m[1]), Number(m[2]));
    else if ((m = hash.match(/^#\/c\/(\d+)$/))) screen = chatScreen(ctx, Number(m[1]));
    else if (hash === "#/search") screen = searchScreen(ctx, null);
    else if (hash === "#/settings") screen = settingsScreen(ctx);
    else if (hash === "#/new") screen = newChatScreen(ctx);
    else if (hash === "#/rooms") screen = roomsScreen(ctx);
    else screen = listScreen(ctx);
    outlet.replaceChildren(screen.el);
    document.title = APP_NAME;
    chrome();
    moveFocus(screen.el);
  }

  /**
   * After navigation, focus the first field on devices with a keyboard and a fine pointer
   * (on phones that would pop the soft keyboard up), else the heading, so screen readers
   * and keyboard users start on the new screen.
   */
  function moveFocus(el: HTMLElement) {
    const desktop = matchMedia("(hover: hover) and (pointer: fine)").matches;
    // Not the attach button's file input (visually hidden; the 📎 button opens it).
    const field = el.querySelector<HTMLElement>("input:not([type=hidden]):not([type=file]), textarea");
    const heading = el.querySelector<HTMLElement>("h1");
    const target = (desktop || !client.token) && field ? field : heading;
    if (!target) return;
    if (target === heading) target.tabIndex = -1;
    target.focus({ preventScroll: true });
  }

  /** Banner, title badge and transport marker (read by the e2e tests), on every change. */
  function chrome() {
    const s = client.state;
    const queued = client.outbox.size;
    const offline = !navigator.onLine || (client.token && s.connection !== "connected");
    banner.hidden = !offline;
    banner.className = `banner ${navigator.onLine ? "connecting" : "offline"}`;
    banner.textContent = !navigator.onLine
      ? `You are offline.${queued ? ` ${queued} message${queued > 1 ? "s" : ""} queued.` : ""} They will be sent when you are back.`
      : `Connecting…${queued ? ` ${queued} queued.` : ""}`;
    const base = document.title.replace(/^\(\d+\) /, "") || APP_NAME;
    document.title = s.total_unread > 0 ? `(${s.total_unread}) ${base}` : base;
    setAppBadge(s.total_unread);
    document.body.dataset.connection = s.connection;
    document.body.dataset.transport = s.transport ?? "";
  }

  client.store.subscribe((_state, action) => {
    // Page load to the first `ready`: the connect time the e2e tests assert and print.
    if (action.type === "ready" && performance.getEntriesByName("chat:ready").length === 0) performance.mark("chat:ready");
    // Push on for this account here: keep the server's copy of the subscription current.
    if (action.type === "ready") push.ensureRegistered().catch((e) => console.warn("push:", e));
    // Signed out: no picture or search of the previous account stays reachable in memory.
    if (action.type === "reset") {
      forgetMedia();
      forgetSearches();
    }
    screen?.update();
    chrome();
  });
  client.outbox.onChange(() => {
    screen?.update();
    chrome();
  });
  client.onUnauthorized((reason) => {
    void push.forgetDevice(); // the server dropped this login's subscriptions with the token
    ctx.signedOut(SIGNED_OUT[reason ?? "expired"]);
  });
  // A tap on a notification while the app is open: the service worker asks to show that conversation.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (ev: MessageEvent<{ type?: string; conversation_id?: number }>) => {
      const cid = ev.data?.conversation_id;
      if (ev.data?.type === "open-conversation" && typeof cid === "number" && client.token) ctx.navigate(`#/c/${cid}`);
      // A push arrived: is its conversation on screen here? (then the worker shows nothing)
      if (ev.data?.type === "which-conversation") {
        const shown = /^#\/c\/(\d+)$/.exec(location.hash);
        ev.ports[0]?.postMessage({ conversation_id: shown ? Number(shown[1]) : null, visible: document.visibilityState === "visible" && document.hasFocus() });
      }
    });
    navigator.serviceWorker.startMessages();
  }
  client.onError((e) => console.warn("chat:", e));
  window.addEventListener("hashchange", route);
  // The OS knows about lost connectivity long before a heartbeat times out (~45 s):
  // close the socket at once so sends go visibly to the outbox, and reconnect on return.
  window.addEventListener("offline", () => {
    if (client.token) client.disconnect();
    chrome();
  });
  window.addEventListener("online", () => {
    chrome();
    if (client.token) void client.foreground();
  });
  // Returning to the foreground is a reconnection moment: sync and resend.
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && void client.foreground());
  route();
}

/** What the sign-in screen says after the session ended without this device asking. */
const SIGNED_OUT: Record<SignedOutReason | "expired", string> = {
  password_changed: "Your password was changed on another device. Sign in with the new password.",
  logout: "This device was signed out from another device.",
  account_closed: "This account was closed.",
  deactivated: "This account was deactivated.",
  expired: "Your session has ended. Please sign in again.",
};

let badgeShown = -1;

/** The installed app's icon badge (where the platform has one), like the title's "(N)". */
function setAppBadge(count: number): void {
  if (count === badgeShown || !("setAppBadge" in navigator)) return;
  badgeShown = count;
  (count > 0 ? navigator.setAppBadge(count) : navigator.clearAppBadge()).catch(() => undefined);
}
