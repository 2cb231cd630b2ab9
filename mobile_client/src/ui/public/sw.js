/*
 * App-shell service worker. Caches the shell (HTML, JS, CSS, icons) so the app opens
 * offline; NEVER touches /api or /socket.io: stale API answers or a cached long-poll
 * would break sync and delivery guarantees.
 */
const CACHE = "chat-shell-v3";
const SHELL = ["./", "./index.html", "./manifest.webmanifest", "./icon.svg"];

/**
 * The shell plus the hashed assets the page names, so the very first visit already opens
 * offline (the offline-first cache needs the code that reads it): the bundle was fetched
 * before this worker existed and would otherwise only be cached on a later online visit.
 */
async function precache() {
  const cache = await caches.open(CACHE);
  await cache.addAll(SHELL);
  const html = await (await cache.match("./index.html")).text();
  const assets = [...html.matchAll(/(?:src|href)="(\.\/assets\/[^"]+)"/g)].map((m) => m[1]);
  await cache.addAll(assets);
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/socket.io") || url.pathname === "/healthz") return;

  if (event.request.mode === "navigate") {
    // Network first for the page, so deploys show up; the cached shell when offline.
    event.respondWith(
      fetch(event.request)
        .then((res) => {
          const copy = res.clone();
          caches.open(CACHE).then((c) => c.put("./index.html", copy));
          return res;
        })
        .catch(() => caches.match("./index.html")),
    );
    return;
  }
  // Hashed assets never change under one name: cache first, fill on first use.
  event.respondWith(
    caches.match(event.request).then(
      (hit) =>
        hit ||
        fetch(event.request).then((res) => {
          if (res.ok) {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(event.request, copy));
          }
          return res;
        }),
    ),
  );
});

/*
 * Push notifications (PROTOCOL v2, "Notifications for devices that are not listening").
 * The server pushes only to devices that did not acknowledge the message (an open app sends
 * `delivered` at once), so a push here means "the user has not seen this yet". One
 * notification per conversation (tag `c<id>`, like the server's Topic): a newer message
 * replaces it, a `read` push closes it, a click opens the conversation.
 */
const ICON = "./icon-192.png";

const tagOf = (conversationId) => `c${conversationId}`;
const conversationUrl = (conversationId) => new URL(`./#/c/${conversationId}`, self.registration.scope).href;

function appWindows() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true });
}

/**
 * Whether a window in front of the user already shows this conversation. The window is asked
 * (WindowClient.url keeps the URL the page loaded with, not its later #/c/<id> routes); one
 * that does not answer in time (frozen in the background) counts as not showing it.
 */
function showsConversation(win, conversationId) {
  if (!win.focused || win.visibilityState !== "visible") return Promise.resolve(false);
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(false), 500);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(Boolean(event.data && event.data.visible && event.data.conversation_id === conversationId));
    };
    win.postMessage({ type: "which-conversation" }, [channel.port2]);
  });
}

function setBadge(count) {
  const nav = self.navigator;
  if (typeof count !== "number" || !nav || !("setAppBadge" in nav)) return Promise.resolve();
  return (count > 0 ? nav.setAppBadge(count) : nav.clearAppBadge()).catch(() => undefined);
}

async function onPush(data) {
  if (!data || typeof data !== "object" || !data.conversation_id) return;
  const tag = tagOf(data.conversation_id);
  if (data.type === "message") {
    // The user is looking at that very conversation: the message is on screen already.
    const wins = await appWindows();
    if ((await Promise.all(wins.map((w) => showsConversation(w, data.conversation_id)))).some(Boolean)) return;
    await Promise.all([
      self.registration.showNotification(data.title || "New message", {
        body: data.body || "",
        tag,
        renotify: true, // a newer message in the same conversation buzzes again
        icon: ICON,
        badge: ICON,
        timestamp: Date.now(),
        data: { conversation_id: data.conversation_id, seq: data.seq, message_id: data.message_id, mentioned: Boolean(data.mentioned) },
      }),
      setBadge(data.total_unread),
    ]);
  } else if (data.type === "read") {
    // Read up to seq on some device: what was notified up to there is seen (a later message stays).
    const shown = await self.registration.getNotifications({ tag });
    for (const n of shown) if (!(n.data && typeof n.data.seq === "number" && n.data.seq > data.seq)) n.close();
    await setBadge(data.total_unread);
  }
}

self.addEventListener("push", (event) => {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null; // not JSON: not ours to show
  }
  event.waitUntil(onPush(data));
});

/**
 * A click opens the conversation: an open window of the app is told to show it (no reload,
 * the socket and state survive) and brought to the front; without one, a new window opens
 * on the conversation's URL.
 */
async function openFromNotification(notification) {
  const conversationId = notification.data && notification.data.conversation_id;
  const wins = await appWindows();
  const win = wins.find((w) => w.focused) || wins[0];
  if (win) {
    win.postMessage({ type: "open-conversation", conversation_id: conversationId });
    try {
      await win.focus();
    } catch {
      // Focusing is allowed only while handling a real click; the message is delivered anyway.
    }
    return;
  }
  await self.clients.openWindow(conversationId ? conversationUrl(conversationId) : self.registration.scope);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification));
});

/*
 * The push service replaced or expired the subscription (Firefox fires this; Chromium does
 * not yet): subscribe again if needed and register the new one, with the session the app
 * keeps in IndexedDB (database "chat", store "kv", key "chat.session"), as no window may be open.
 */
function storedToken() {
  return new Promise((resolve) => {
    const open = indexedDB.open("chat");
    // No database yet (never signed in): do not create an empty one under the app's feet.
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = () => resolve(null);
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("kv")) {
        db.close();
        resolve(null);
        return;
      }
      const req = db.transaction("kv").objectStore("kv").get("chat.session");
      req.onsuccess = () => {
        db.close();
        try {
          resolve(JSON.parse(req.result).token || null);
        } catch {
          resolve(null);
        }
      };
      req.onerror = () => {
        db.close();
        resolve(null);
      };
    };
  });
}

async function api(method, path, token, body) {
  const res = await fetch(new URL(`./api/v1${path}`, self.registration.scope).href, {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

/** Same wording as the page's deviceName() (src/platform/webPush.ts). */
function deviceName() {
  const ua = self.navigator.userAgent || "";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

async function resubscribe(oldSubscription, newSubscription) {
  const token = await storedToken();
  if (!token) return; // signed out: nothing to register
  let sub = newSubscription;
  if (!sub) {
    const key = (oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey) ||
      (await api("GET", "/push/config", token)).webpush.public_key;
    sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  }
  const json = sub.toJSON();
  await api("POST", "/push/subscriptions", token, { type: "webpush", endpoint: sub.endpoint, keys: json.keys, device_name: deviceName() });
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event.oldSubscription, event.newSubscription));
});

/** The page asks to close a conversation's notifications when it opens it (already seen). */
self.addEventListener("message", (event) => {
  const msg = event.data;
  if (msg && msg.type === "conversation-opened" && msg.conversation_id) {
    event.waitUntil(
      self.registration.getNotifications({ tag: tagOf(msg.conversation_id) }).then((shown) => shown.forEach((n) => n.close())),
    );
  }
});
