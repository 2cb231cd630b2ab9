import type { BrowserContext, CDPSession, Page } from "@playwright/test";
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A stand-in for the browser vendor's push service, for the e2e tests.
 *
 * Headless Chromium has no push service: `PushManager.subscribe` fails ("Registration failed
 * - permission denied") even with the permission granted. So the page gets a fake
 * PushSubscription whose keys this process made (installFakePushManager), pointing at a local
 * HTTP receiver (startPushService; the server allows a loopback endpoint with
 * CHAT_PUSH_ALLOW_INSECURE=1, which scripts/with-server.sh sets). The receiver decrypts what
 * the server sends (RFC 8291 aes128gcm, with the private key only the "browser" holds), and
 * the test hands the plaintext to the real service worker with the DevTools protocol's
 * `ServiceWorker.deliverPushMessage`, which is what the browser does with a push it receives.
 * Everything from the server's decision to push to the notification on screen is the real code.
 */

export interface FakeSubscription {
  endpoint: string;
  /** base64url of the 65-byte uncompressed P-256 public key, as PushSubscription.toJSON() has it. */
  p256dh: string;
  /** base64url of the 16-byte auth secret. */
  auth: string;
  privateKey: Buffer;
}

export interface ReceivedPush {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const b64url = (b: Buffer) => b.toString("base64url");

export function fakeSubscription(baseUrl: string, name = randomBytes(6).toString("hex")): FakeSubscription {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return { endpoint: `${baseUrl}/push/${name}`, p256dh: b64url(ecdh.getPublicKey()), auth: b64url(randomBytes(16)), privateKey: ecdh.getPrivateKey() };
}

export class PushService {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly received: ReceivedPush[],
  ) {}

  static async start(): Promise<PushService> {
    const received: ReceivedPush[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new PushService(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received);
  }

  /** Pushes to one subscription so far, decrypted. */
  pushesFor(sub: FakeSubscription): { push: ReceivedPush; data: Record<string, unknown> }[] {
    const path = new URL(sub.endpoint).pathname;
    return this.received.filter((p) => p.path === path).map((push) => ({ push, data: JSON.parse(decrypt(push.body, sub)) }));
  }

  /** The first push to `sub` whose payload matches, waiting for it. */
  async waitFor(sub: FakeSubscription, match: (data: Record<string, unknown>) => boolean, timeoutMs = 15_000) {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const hit = this.pushesFor(sub).find((p) => match(p.data));
      if (hit) return hit;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no matching push within ${timeoutMs} ms; got ${JSON.stringify(this.pushesFor(sub).map((p) => p.data))}`);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** RFC 8291 (Web Push message encryption) over RFC 8188 aes128gcm, one record. */
export function decrypt(body: Buffer, sub: FakeSubscription): string {
  const salt = body.subarray(0, 16);
  const idLen = body[20];
  const serverKey = body.subarray(21, 21 + idLen);
  const ciphertext = body.subarray(21 + idLen);
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(sub.privateKey);
  const secret = ecdh.computeSecret(serverKey);
  const uaPublic = Buffer.from(sub.p256dh, "base64url");
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, serverKey]);
  const ikm = Buffer.from(hkdfSync("sha256", secret, Buffer.from(sub.auth, "base64url"), keyInfo, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with a 0x02 delimiter, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error("bad padding delimiter");
  return padded.subarray(0, end).toString("utf8");
}

/**
 * Replaces PushManager's subscribe/getSubscription in the page with a subscription made of
 * `sub`'s keys (see above for why), recording each call in `window.__push`.
 */
export async function installFakePushManager(context: BrowserContext, sub: FakeSubscription): Promise<void> {
  await context.addInitScript((s: { endpoint: string; p256dh: string; auth: string }) => {
    const rec = { subscribeCalls: [] as { userVisibleOnly?: boolean; key: number[] }[], permissionRequests: 0, unsubscribed: 0, current: null as unknown };
    (window as unknown as { __push: typeof rec }).__push = rec;
    const bytes = (b64: string) => Uint8Array.from(atob(b64.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
    const make = (key: ArrayBuffer) => ({
      endpoint: s.endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true, applicationServerKey: key },
      getKey: (name: string) => bytes(name === "p256dh" ? s.p256dh : s.auth),
      toJSON: () => ({ endpoint: s.endpoint, expirationTime: null, keys: { p256dh: s.p256dh, auth: s.auth } }),
      unsubscribe: async () => {
        rec.unsubscribed++;
        rec.current = null;
        return true;
      },
    });
    PushManager.prototype.subscribe = async function (options?: PushSubscriptionOptionsInit) {
      const raw = options?.applicationServerKey;
      const key = raw instanceof ArrayBuffer ? raw : (raw as Uint8Array).buffer.slice(0) as ArrayBuffer;
      rec.subscribeCalls.push({ userVisibleOnly: options?.userVisibleOnly, key: [...new Uint8Array(key)] });
      rec.current = make(key);
      return rec.current as PushSubscription;
    };
    PushManager.prototype.getSubscription = async function () {
      return rec.current as PushSubscription | null;
    };
    const request = Notification.requestPermission.bind(Notification);
    Notification.requestPermission = async () => {
      rec.permissionRequests++;
      return request();
    };
  }, { endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth });
}

/** The DevTools protocol's handle on a page's service worker registration, for delivering pushes. */
export async function serviceWorkerPusher(context: BrowserContext, page: Page): Promise<(data: unknown) => Promise<void>> {
  const cdp: CDPSession = await context.newCDPSession(page);
  const origin = new URL(page.url()).origin;
  let registrationId: string | null = null;
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e: { registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] }) => {
    for (const r of e.registrations) if (!r.isDeleted && r.scopeURL.startsWith(origin)) registrationId = r.registrationId;
  });
  await cdp.send("ServiceWorker.enable");
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  for (let i = 0; i < 50 && registrationId === null; i++) await new Promise((r) => setTimeout(r, 100));
  if (registrationId === null) throw new Error("no service worker registration");
  const id: string = registrationId;
  return async (data) => {
    await cdp.send("ServiceWorker.deliverPushMessage", { origin, registrationId: id, data: JSON.stringify(data) });
  };
}

/** What the service worker shows right now (title, body, tag, data). */
export function notifications(page: Page) {
  return page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data as Record<string, unknown> }));
  });
}
