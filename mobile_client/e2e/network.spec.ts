import { expect, test, type Page } from "@playwright/test";
import { api, newPhone, openDm, PASSWORD, send, shot, signIn, signUp, uname } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

/** Messages with `text` as stored by the server, read with the page's own token. */
async function serverCopies(page: Page, conversationId: number, text: string): Promise<number> {
  return page.evaluate(
    async ([id, body]) => {
      const chat = (window as unknown as { chat: { rest: { messages(id: number, o: object): Promise<{ messages: { body: string }[] }> } } }).chat;
      const page = await chat.rest.messages(id as number, { limit: 100 });
      return page.messages.filter((m) => m.body === body).length;
    },
    [conversationId, text] as const,
  );
}

function conversationIdOf(page: Page): number {
  return Number(new URL(page.url()).hash.match(/#\/c\/(\d+)/)![1]);
}

test("with WebSockets blocked, the chat still works over HTTP long-polling", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  // A network whose proxy refuses WebSockets: every WebSocket to /socket.io is closed
  // before the handshake. (page.route() cannot abort WebSocket upgrades, and DevTools URL
  // blocking does not apply to them either, so routeWebSocket is the network-level block.)
  // The client gives up on WebSocket after its connect timeout and falls back to polling.
  const blocked: string[] = [];
  for (const { context } of [a, b]) {
    await context.route(/\/socket\.io\/.*transport=websocket/, (route) => route.abort());
    await context.routeWebSocket(/\/socket\.io\//, (ws) => {
      blocked.push(ws.url());
      ws.close({ code: 1011, reason: "WebSockets blocked by the test proxy" });
    });
  }
  const alice = uname("wsa");
  const bob = uname("wsb");
  const t0 = Date.now();
  await signUp(a.page, alice, "Alice");
  console.log(`connected over ${await a.page.locator("body").getAttribute("data-transport")} after ${Date.now() - t0} ms`);
  await signUp(b.page, bob, "Bob");
  await expect(a.page.locator("body")).toHaveAttribute("data-transport", "polling");
  await expect(b.page.locator("body")).toHaveAttribute("data-transport", "polling");

  await openDm(a.page, bob, "Bob");
  await send(a.page, "over polling");
  await b.page.getByRole("link", { name: /Alice/ }).click();
  await expect(b.page.locator(".msg.theirs", { hasText: "over polling" })).toBeVisible();
  await send(b.page, "polling reply");
  await expect(a.page.locator(".msg.theirs", { hasText: "polling reply" })).toBeVisible();
  await expect(a.page.locator(".msg.mine", { hasText: "over polling" }).locator(".tick")).toHaveAttribute("data-status", "read");
  // Still polling: every WebSocket attempt failed, none carried the chat.
  await expect(a.page.locator("body")).toHaveAttribute("data-transport", "polling");
  expect(blocked.length).toBeGreaterThan(0);
  await a.context.close();
  await b.context.close();
});

test("offline: a message is visibly queued and delivered exactly once when back online", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("offa");
  const bob = uname("offb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(a.page, bob, "Bob");
  const id = conversationIdOf(a.page);
  await send(a.page, "before going offline");
  await b.page.getByRole("link", { name: /Alice/ }).click();
  await expect(b.page.locator(".msg.theirs", { hasText: "before going offline" })).toBeVisible();

  await a.context.setOffline(true);
  await expect(a.page.getByRole("status").filter({ hasText: "You are offline" })).toBeVisible();
  await send(a.page, "sent while offline");
  const queued = a.page.locator(".msg.pending", { hasText: "sent while offline" });
  await expect(queued.locator(".tick")).toHaveAttribute("data-status", "queued");
  await expect(a.page.getByRole("status").filter({ hasText: "1 message queued" })).toBeVisible();
  await shot(a.page, "08-offline-queued");
  // Nothing reached the server or Bob.
  await b.page.waitForTimeout(500);
  await expect(b.page.locator(".msg", { hasText: "sent while offline" })).toHaveCount(0);

  await a.context.setOffline(false);
  await expect(a.page.locator(".msg.pending")).toHaveCount(0);
  await expect(a.page.locator(".msg.mine", { hasText: "sent while offline" })).toHaveCount(1);
  await expect(b.page.locator(".msg.theirs", { hasText: "sent while offline" })).toHaveCount(1);
  await b.page.waitForTimeout(1000); // late duplicates would show up here
  await expect(b.page.locator(".msg.theirs", { hasText: "sent while offline" })).toHaveCount(1);
  expect(await serverCopies(b.page, id, "sent while offline")).toBe(1);
  await a.context.close();
  await b.context.close();
});

test("reverse infinite scroll loads older history as the reader scrolls up", async ({ browser }) => {
  // Seed 130 messages over REST, like a bot would.
  const alice = uname("hista");
  const bob = uname("histb");
  const a = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice" });
  const b = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob" });
  const { conversation } = await api(CHAT_URL, "POST", "/conversations", a.token, { type: "direct", user_id: b.user.id });
  for (let i = 1; i <= 130; i++) {
    await api(CHAT_URL, "POST", `/conversations/${conversation.id}/messages`, i % 3 ? a.token : b.token, { body: `history ${i}`, client_id: `seed-${i}` });
  }

  const phone = await newPhone(browser);
  await signIn(phone.page, bob);
  await phone.page.getByRole("link", { name: /Alice/ }).click();
  const log = phone.page.getByRole("log", { name: "Messages" });
  await expect(log.locator(".msg", { hasText: "history 130" })).toBeVisible();
  const firstCount = await log.locator(".msg").count();
  expect(firstCount).toBeLessThan(130); // only the latest page(s), not everything
  await expect(log.locator(".msg", { hasText: /^history 1$/ })).toHaveCount(0);
  await shot(phone.page, "09-history");

  // Scroll to the top until the very first message appears.
  const scroller = phone.page.locator(".messages");
  for (let i = 0; i < 10 && (await log.locator(".msg .body", { hasText: /^history 1$/ }).count()) === 0; i++) {
    await scroller.evaluate((el) => el.scrollTo({ top: 0 }));
    await phone.page.waitForTimeout(400);
  }
  await expect(log.locator(".msg .body").filter({ hasText: /^history 1$/ })).toHaveCount(1);
  await expect(log.locator(".msg")).toHaveCount(130);
  await expect(phone.page.getByText("Beginning of the conversation")).toBeVisible();
  // Order is preserved: seq ascending top to bottom.
  const seqs = await log.locator(".msg").evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
  expect(seqs).toEqual(Array.from({ length: 130 }, (_, i) => i + 1));
  await phone.context.close();
});

test("installable: manifest, icons and a service worker that skips /api and /socket.io", async ({ browser }) => {
  const context = await browser.newContext({ serviceWorkers: "allow" });
  const page = await context.newPage();
  await page.goto("/");
  const manifestHref = await page.locator('link[rel="manifest"]').getAttribute("href");
  const manifest = await (await page.request.get(new URL(manifestHref!, page.url()).toString())).json();
  expect(manifest).toMatchObject({ display: "standalone", start_url: "./" });
  expect(manifest.icons.map((i: { sizes: string }) => i.sizes)).toEqual(expect.arrayContaining(["192x192", "512x512"]));
  const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
  expect(scope).toBe(new URL("/", page.url()).toString());
  const sw = await (await page.request.get(new URL("sw.js", page.url()).toString())).text();
  expect(sw).toContain('url.pathname.startsWith("/api/")');
  expect(sw).toContain('url.pathname.startsWith("/socket.io")');
  await context.close();
});
