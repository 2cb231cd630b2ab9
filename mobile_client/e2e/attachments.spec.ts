import { expect, test, type CDPSession, type Page } from "@playwright/test";
import { api, newPhone, openDm, shot, signUp, uname, waitConnected } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

/**
 * A JPEG made in the page with a canvas: a gradient with a label, and optionally noise so it
 * barely compresses (a large upload that takes a while on a throttled uplink).
 */
async function photo(page: Page, width: number, height: number, noise = false): Promise<Buffer> {
  const b64 = await page.evaluate(
    async ([w, h, n]) => {
      const c = document.createElement("canvas");
      c.width = w;
      c.height = h;
      const g = c.getContext("2d")!;
      const grad = g.createLinearGradient(0, 0, w, h);
      grad.addColorStop(0, "#1f6feb");
      grad.addColorStop(1, "#f2cc60");
      g.fillStyle = grad;
      g.fillRect(0, 0, w, h);
      if (n) {
        const img = g.getImageData(0, 0, w, h);
        for (let i = 0; i < img.data.length; i += 4) {
          img.data[i] = (img.data[i] + Math.random() * 120) | 0;
          img.data[i + 1] = (img.data[i + 1] + Math.random() * 120) | 0;
        }
        g.putImageData(img, 0, 0);
      }
      g.fillStyle = "#fff";
      g.font = `${Math.round(h / 8)}px sans-serif`;
      g.fillText(`${w}×${h}`, w / 10, h / 2);
      const blob = await new Promise<Blob>((r) => c.toBlob((b) => r(b!), "image/jpeg", 0.92));
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = "";
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(s);
    },
    [width, height, noise] as const,
  );
  return Buffer.from(b64, "base64");
}

/** The uplink of a phone on a slow network (DevTools network emulation); `null` lifts it. */
async function throttleUpload(cdp: CDPSession, bytesPerSecond: number | null): Promise<void> {
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: bytesPerSecond ? 20 : 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond ?? -1,
  });
}

function conversationIdOf(page: Page): number {
  return Number(new URL(page.url()).hash.match(/#\/c\/(\d+)/)![1]);
}

const attach = (page: Page, files: { name: string; mimeType: string; buffer: Buffer }[]) => page.locator('input[type="file"]').setInputFiles(files);

test("attach a photo: the tray, a progress bar while it uploads, the bubble on the other phone, full screen with pinch-zoom", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("pha");
  const bob = uname("phb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(a.page, bob, "Bob");
  await b.page.getByRole("link", { name: /Alice/ }).click();

  // The picker: images, videos, PDFs and anything else; no `capture`, so phones offer camera and library.
  const input = a.page.locator('input[type="file"]');
  await expect(input).toHaveAttribute("accept", "image/*,video/*,application/pdf,*/*");
  expect(await input.getAttribute("capture")).toBeNull();
  expect(await input.evaluate((el) => (el as HTMLInputElement).multiple)).toBe(true);

  const jpeg = await photo(a.page, 1600, 1200, true);
  await attach(a.page, [{ name: "beach.jpg", mimeType: "image/jpeg", buffer: jpeg }]);
  const tray = a.page.getByRole("list", { name: "Attachments to send" });
  await expect(tray).toContainText("beach.jpg");
  await a.page.getByLabel("Message", { exact: true }).fill("Look at this!");
  await shot(a.page, "19-attach-tray");

  // A slow uplink: the upload takes a few seconds, so its progress is visible.
  const cdp = await a.context.newCDPSession(a.page);
  await throttleUpload(cdp, Math.round(jpeg.length / 3));
  await a.page.getByRole("button", { name: "Send" }).click();
  await expect(tray).toBeHidden();
  const pending = a.page.locator(".msg.pending", { hasText: "Look at this!" });
  const bar = pending.getByRole("progressbar", { name: "Uploading beach.jpg" });
  await expect(bar).toBeVisible();
  await expect.poll(async () => bar.evaluate((el) => (el as HTMLProgressElement).value / (el as HTMLProgressElement).max), { timeout: 10_000 }).toBeGreaterThan(0.05);
  const midway = await bar.evaluate((el) => (el as HTMLProgressElement).value / (el as HTMLProgressElement).max);
  expect(midway).toBeLessThan(1);
  await expect(pending.locator(".att-status")).toHaveText(/\d+%/);
  await expect(pending.locator(".att-image img")).toHaveAttribute("src", /^data:image\/jpeg/); // the picture from this device
  await shot(a.page, "20-upload-progress");
  // Sent only after its upload: Bob has nothing yet.
  await expect(b.page.locator(".msg", { hasText: "Look at this!" })).toHaveCount(0);

  // Bob's thumbnails answer slowly: the box already has the photo's shape before a byte arrives.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await b.page.route("**/api/v1/uploads/*/thumbnail", async (route) => {
    await held;
    await route.continue();
  });
  await expect(pending).toHaveCount(0, { timeout: 30_000 });
  await throttleUpload(cdp, null);
  const mine = a.page.locator(".msg.mine:not(.pending)", { hasText: "Look at this!" });
  await expect(mine.locator(".att-image img")).toBeVisible();

  const theirs = b.page.locator(".msg.theirs", { hasText: "Look at this!" });
  const tile = theirs.getByRole("button", { name: /Photo beach\.jpg, 1600 × 1200/ });
  await expect(tile).toBeVisible();
  const box = (await tile.boundingBox())!;
  expect(await tile.locator("img").evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth > 0)).toBe(false);
  expect(box.width).toBeCloseTo(240, 0);
  expect(box.width / box.height).toBeCloseTo(4 / 3, 1);
  release();
  await expect.poll(() => tile.locator("img").evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  const thumbWidth = await tile.locator("img").evaluate((el) => (el as HTMLImageElement).naturalWidth);
  expect(thumbWidth).toBeLessThanOrEqual(400); // the thumbnail, not the 1600 px original
  expect((await tile.boundingBox())!.height).toBeCloseTo(box.height, 0); // nothing moved when it loaded
  await shot(b.page, "21-photo-bubble");

  // Full screen: the original replaces the thumbnail; two fingers zoom, a double tap zooms back out.
  await tile.click();
  const viewer = b.page.getByRole("dialog", { name: "Photo: beach.jpg" });
  await expect(viewer).toBeVisible();
  const big = viewer.locator(".viewer-img");
  await expect(big).toHaveAttribute("data-full", "true");
  expect(await big.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBe(1600);
  const stage = (await viewer.locator(".viewer-stage").boundingBox())!;
  const cx = stage.x + stage.width / 2;
  const cy = stage.y + stage.height / 2;
  const touch = await b.context.newCDPSession(b.page);
  await touch.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ x: cx - 30, y: cy, id: 1 }, { x: cx + 30, y: cy, id: 2 }] });
  for (let i = 1; i <= 8; i++) {
    await touch.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [{ x: cx - 30 - i * 12, y: cy, id: 1 }, { x: cx + 30 + i * 12, y: cy, id: 2 }] });
  }
  await touch.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  const scale = Number(await big.getAttribute("data-scale"));
  expect(scale).toBeGreaterThan(2);
  // The page itself did not zoom (the stage owns the gesture).
  expect(await b.page.evaluate(() => window.visualViewport?.scale ?? 1)).toBe(1);
  await shot(b.page, "22-photo-viewer");
  for (let i = 0; i < 2; i++) {
    await touch.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ x: cx, y: cy }] });
    await touch.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  }
  await expect(big).toHaveAttribute("data-scale", "1.00");
  await b.page.keyboard.press("Escape");
  await expect(viewer).toBeHidden();
  await a.context.close();
  await b.context.close();
});

test("a captionless photo and a file card; downloads and pictures work without the session cookie", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("fla");
  const bob = uname("flb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(a.page, bob, "Bob");
  const notes = Buffer.from("Meeting notes\n1. replies\n2. attachments\n");
  await attach(a.page, [{ name: "notes.txt", mimeType: "text/plain", buffer: notes }]);
  await a.page.getByRole("button", { name: "Send" }).click();
  await expect(a.page.locator(".msg.mine:not(.pending) .att-file")).toContainText("notes.txt");
  await attach(a.page, [{ name: "portrait.jpg", mimeType: "image/jpeg", buffer: await photo(a.page, 600, 900) }]);
  await a.page.getByRole("button", { name: "Send" }).click(); // no caption: allowed
  await expect(a.page.locator(".msg.mine:not(.pending) .att-image")).toHaveCount(1);

  // Bob's browser restarted: the session cookie is gone, the token in IndexedDB is not.
  await b.context.clearCookies();
  await b.page.reload();
  await waitConnected(b.page);
  const row = b.page.getByRole("link", { name: /Alice/ });
  await expect(row.locator(".preview")).toHaveText("📷 Photo");
  await row.click();
  const card = b.page.getByRole("link", { name: `Download notes.txt, ${notes.length} bytes` });
  await expect(card).toBeVisible();
  const tile = b.page.getByRole("button", { name: /Photo portrait\.jpg, 600 × 900/ });
  await expect.poll(() => tile.locator("img").evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
  expect(await tile.locator("img").getAttribute("src")).toMatch(/^data:image\/jpeg/); // loaded with the token
  const box = (await tile.boundingBox())!;
  expect(box.height / box.width).toBeCloseTo(1.5, 1);
  const [file] = await Promise.all([b.page.waitForEvent("download"), card.click()]);
  expect(file.suggestedFilename()).toBe("notes.txt");
  const { readFile } = await import("node:fs/promises");
  expect(await readFile(await file.path())).toEqual(notes);
  await shot(b.page, "23-file-card");
  await a.context.close();
  await b.context.close();
});

test("offline: a photo is queued with its preview, survives the app being closed, and is sent once when back online", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("ofa");
  const bob = uname("ofb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(a.page, bob, "Bob");
  const dm = conversationIdOf(a.page);
  await b.page.getByRole("link", { name: /Alice/ }).click();
  const jpeg = await photo(a.page, 800, 600);

  await a.context.setOffline(true);
  await expect(a.page.getByRole("status").filter({ hasText: "You are offline" })).toBeVisible();
  await attach(a.page, [{ name: "tunnel.jpg", mimeType: "image/jpeg", buffer: jpeg }]);
  await a.page.getByLabel("Message", { exact: true }).fill("sent from the tunnel");
  await a.page.getByRole("button", { name: "Send" }).click();
  const queued = a.page.locator(".msg.pending", { hasText: "sent from the tunnel" });
  await expect(queued.locator(".tick")).toHaveAttribute("data-status", "queued");
  await expect(queued.locator(".att-image img")).toHaveAttribute("src", /^data:image\/jpeg/);
  await expect(a.page.getByRole("status").filter({ hasText: "1 message queued" })).toBeVisible();
  await a.page.waitForTimeout(1_500); // an upload attempt or two fail meanwhile
  await shot(a.page, "24-offline-attachment");

  // The app is closed while offline; it is opened again once the network is back.
  await a.page.close();
  await a.context.setOffline(false);
  const page = await a.context.newPage();
  const uploads: string[] = [];
  page.on("request", (r) => r.method() === "POST" && r.url().includes("/api/v1/uploads") && uploads.push(r.url()));
  await page.goto(`/#/c/${dm}`);
  await waitConnected(page);
  await expect(page.locator(".msg.mine:not(.pending)", { hasText: "sent from the tunnel" }).locator(".att-image")).toBeVisible();
  await expect(b.page.locator(".msg.theirs", { hasText: "sent from the tunnel" }).locator(".att-image img")).toBeVisible();
  await page.waitForTimeout(1_000); // a duplicate would show up here
  await expect(b.page.locator(".msg", { hasText: "sent from the tunnel" })).toHaveCount(1);
  expect(uploads).toHaveLength(1);
  // Exactly one message on the server, carrying exactly one attachment.
  const token = await page.evaluate(() => (window as unknown as { chat: { token: string } }).chat.token);
  const history = await api(CHAT_URL, "GET", `/conversations/${dm}/messages?limit=10`, token);
  const copies = history.messages.filter((m: { body: string }) => m.body === "sent from the tunnel");
  expect(copies).toHaveLength(1);
  expect(copies[0].attachments).toMatchObject([{ name: "tunnel.jpg", width: 800, height: 600 }]);
  // The queued bytes are gone from IndexedDB once the message is acknowledged.
  await expect.poll(() => page.evaluate(() => new Promise<number>((resolve) => {
    const open = indexedDB.open("chat");
    open.onsuccess = () => {
      const req = open.result.transaction("files").objectStore("files").count();
      req.onsuccess = () => {
        open.result.close();
        resolve(req.result);
      };
    };
  }))).toBe(0);
  await a.context.close();
  await b.context.close();
});
