import { expect, test, type Page } from "@playwright/test";
import { api, newPhone, openDm, send, signUp, uname, waitConnected } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

/** Budget from page load to the cached list on screen: "at once", before any network answer. */
const COLD_START_BUDGET_MS = 3_000;

type Chat = { token: string; cacheIdle(): Promise<void>; state: { conversations: Record<string, { messages: { id: number; body: string }[] }> } };

const cacheIdle = (page: Page) => page.evaluate(() => (window as unknown as { chat: Chat }).chat.cacheIdle());
const tokenOf = (page: Page) => page.evaluate(() => (window as unknown as { chat: Chat }).chat.token);

function conversationIdOf(page: Page): number {
  return Number(new URL(page.url()).hash.match(/#\/c\/(\d+)/)![1]);
}

/** Bob (the other user) acts over REST, like another device of his would. */
async function messageId(page: Page, id: number, body: string): Promise<number> {
  const ids = await page.evaluate(
    ([cid, text]) => {
      const c = (window as unknown as { chat: Chat }).chat.state.conversations[String(cid)];
      return c.messages.filter((m) => m.body === text).map((m) => m.id);
    },
    [id, body] as const,
  );
  expect(ids).toHaveLength(1);
  return ids[0];
}

test("cold start offline shows the cached conversations and messages at once; back online it catches up", async ({ browser }) => {
  // Service workers allowed here: they serve the app shell when there is no network.
  const a = await newPhone(browser, { serviceWorkers: "allow" });
  const b = await newPhone(browser);
  const alice = uname("cola");
  const bob = uname("colb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(b.page, alice, "Alice");
  const dm = conversationIdOf(b.page);
  await send(b.page, "cached one");
  await send(b.page, "cached two");
  await expect(b.page.locator(".msg.mine:not(.pending)", { hasText: "cached two" })).toBeVisible();

  // Alice's phone, first visit: the service worker installs with the shell and its assets.
  await a.page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await a.page.getByRole("link", { name: /Bob/ }).click();
  await expect(a.page.locator(".msg.theirs", { hasText: "cached two" })).toBeVisible();
  await a.page.getByRole("link", { name: "Back to conversations" }).click();
  await cacheIdle(a.page);

  // No network at all, then the app is started again.
  await a.context.setOffline(true);
  const shell = await a.page.reload();
  expect(shell?.fromServiceWorker()).toBe(true); // the page itself came from the offline shell
  const row = a.page.getByRole("link", { name: /Bob/ });
  await expect(row).toBeVisible();
  await expect(row.locator(".preview")).toHaveText("cached two");
  const rendered = await a.page.evaluate(() => Math.round(performance.getEntriesByName("chat:rendered")[0].startTime));
  console.log(`cold start offline: page load to cached list rendered in ${rendered} ms`);
  expect(rendered).toBeLessThanOrEqual(COLD_START_BUDGET_MS);
  await expect(a.page.getByRole("status").filter({ hasText: "You are offline" })).toBeVisible();
  await row.click();
  const log = a.page.getByRole("log", { name: "Messages" });
  await expect(log.locator(".msg.theirs", { hasText: "cached one" })).toBeVisible();
  await expect(log.locator(".msg.theirs", { hasText: "cached two" })).toBeVisible();

  // While Alice is away, Bob deletes one message and edits the other.
  const token = await tokenOf(b.page);
  const two = await messageId(b.page, dm, "cached two");
  const one = await messageId(b.page, dm, "cached one");
  await api(CHAT_URL, "DELETE", `/messages/${two}`, token);
  await api(CHAT_URL, "PATCH", `/messages/${one}`, token, { body: "cached one, edited" });
  await a.page.waitForTimeout(300);
  await expect(log.locator(".msg", { hasText: "cached two" })).toHaveCount(1); // still offline: unchanged

  // Back online: one catch-up, and the deleted message is gone from the screen.
  await a.context.setOffline(false);
  await waitConnected(a.page);
  await expect(log.locator(".msg", { hasText: "cached two" })).toHaveCount(0);
  await expect(log.locator(".msg.deleted")).toHaveCount(1);
  await expect(log.locator(".msg.theirs", { hasText: "cached one, edited" })).toBeVisible();
  await a.context.close();
  await b.context.close();
});

test("a message deleted by the other user while this device was offline disappears after reconnect", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("dela");
  const bob = uname("delb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(b.page, alice, "Alice");
  const dm = conversationIdOf(b.page);
  await send(b.page, "stays");
  await send(b.page, "will be deleted");
  await a.page.getByRole("link", { name: /Bob/ }).click();
  const log = a.page.getByRole("log", { name: "Messages" });
  await expect(log.locator(".msg.theirs", { hasText: "will be deleted" })).toBeVisible();

  await a.context.setOffline(true);
  await expect(a.page.getByRole("status").filter({ hasText: "You are offline" })).toBeVisible();
  // Bob deletes it in his app while Alice's phone is away.
  await b.page.locator(".msg.mine:not(.pending)", { hasText: "will be deleted" }).dispatchEvent("contextmenu");
  await b.page.getByRole("button", { name: "Delete" }).click();
  await expect(b.page.locator(".msg.mine", { hasText: "will be deleted" })).toHaveCount(0);
  await a.page.waitForTimeout(300);
  await expect(log.locator(".msg.theirs", { hasText: "will be deleted" })).toHaveCount(1);

  // Reconnect: the chat screen does not refetch its history; the catch-up sync removes it.
  const historyFetches: string[] = [];
  a.page.on("request", (r) => {
    if (new RegExp(`/api/v1/conversations/${dm}/messages`).test(r.url())) historyFetches.push(r.url());
  });
  await a.context.setOffline(false);
  await waitConnected(a.page);
  await expect(log.locator(".msg", { hasText: "will be deleted" })).toHaveCount(0);
  await expect(log.locator(".msg.deleted")).toHaveCount(1);
  await expect(log.locator(".msg.theirs", { hasText: "stays" })).toBeVisible();
  expect(historyFetches).toEqual([]);
  await a.context.close();
  await b.context.close();
});
