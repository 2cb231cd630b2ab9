import { expect, test, type Locator, type Page } from "@playwright/test";
import { api, newPhone, openDm, PASSWORD, send, shot, signIn, signUp, uname } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

/**
 * A real touch swipe to the right on `target`: touch events through the DevTools protocol, so
 * Chromium makes the pointer events itself (pointerType "touch", touch-action honoured), as a
 * finger on a phone would.
 */
async function swipeRight(page: Page, target: Locator, distance = 100): Promise<void> {
  const box = (await target.boundingBox())!;
  const cdp = await page.context().newCDPSession(page);
  const y = box.y + box.height / 2;
  const x = box.x + 12;
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ x, y }] });
  for (let i = 1; i <= 10; i++) {
    await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [{ x: x + (distance * i) / 10, y }] });
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await cdp.detach();
}

const composer = (page: Page) => page.getByLabel("Message", { exact: true });

test("reply by swiping and from the message sheet; the quote follows an edit and a delete of the original", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("repa");
  const bob = uname("repb");
  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");
  await openDm(a.page, bob, "Bob");
  await send(a.page, "Lunch at noon?");
  await send(a.page, "Or tomorrow");
  await b.page.getByRole("link", { name: /Alice/ }).click();
  const original = b.page.locator(".msg.theirs", { hasText: "Lunch at noon?" });
  await expect(original).toBeVisible();

  // Bob swipes right on Alice's message: the strip says whom he replies to.
  await swipeRight(b.page, original);
  const strip = b.page.getByRole("status", { name: "Replying" });
  await expect(strip).toBeVisible();
  await expect(strip).toContainText("Replying to Alice");
  await expect(strip).toContainText("Lunch at noon?");
  await expect(composer(b.page)).toBeFocused();
  // A short or vertical move is no swipe; Cancel drops the reply, swiping again brings it back.
  await b.page.getByRole("button", { name: "Cancel reply" }).click();
  await expect(strip).toBeHidden();
  await swipeRight(b.page, original, 30);
  await expect(strip).toBeHidden();
  await swipeRight(b.page, original);
  await expect(strip).toBeVisible();
  await composer(b.page).fill("Yes! See you there");
  await shot(b.page, "16-reply-strip");
  await b.page.getByRole("button", { name: "Send" }).click();
  await expect(strip).toBeHidden();

  // Both phones show the quote in the reply's bubble.
  const bobsReply = b.page.locator(".msg.mine:not(.pending)", { hasText: "See you there" });
  await expect(bobsReply.locator(".quote")).toContainText("Alice");
  await expect(bobsReply.locator(".quote")).toContainText("Lunch at noon?");
  const aliceSees = a.page.locator(".msg.theirs", { hasText: "See you there" });
  await expect(aliceSees.locator(".quote .quote-sender")).toHaveText("You");
  await expect(aliceSees.locator(".quote .quote-text")).toHaveText("Lunch at noon?");

  // Alice replies from the message sheet (long-press), to Bob's reply.
  await aliceSees.dispatchEvent("contextmenu");
  await a.page.getByRole("dialog", { name: "Message actions" }).getByRole("button", { name: "Reply" }).click();
  await expect(a.page.getByRole("status", { name: "Replying" })).toContainText("Replying to Bob");
  await composer(a.page).fill("Great");
  await a.page.keyboard.press("Enter");
  const alicesReply = a.page.locator(".msg.mine:not(.pending)", { hasText: "Great" });
  await expect(alicesReply.locator(".quote-text")).toHaveText("Yes! See you there");
  await expect(b.page.locator(".msg.theirs", { hasText: "Great" }).locator(".quote-sender")).toHaveText("You");

  // The quote follows the original: edited on Alice's phone, Bob's quote changes.
  await a.page.locator(".msg.mine:not(.pending)", { hasText: "Lunch at noon?" }).dispatchEvent("contextmenu");
  await a.page.getByRole("button", { name: "Edit" }).click();
  await composer(a.page).fill("Lunch at one?");
  await a.page.getByRole("button", { name: "Send" }).click();
  await expect(bobsReply.locator(".quote-text")).toHaveText("Lunch at one?");
  await expect(aliceSees.locator(".quote-text")).toHaveText("Lunch at one?");
  await shot(b.page, "17-reply-quote");

  // Deleted: the quote says so, on both phones.
  await a.page.locator(".msg.mine:not(.pending)", { hasText: "Lunch at one?" }).dispatchEvent("contextmenu");
  await a.page.getByRole("button", { name: "Delete" }).click();
  await expect(bobsReply.locator(".quote-text")).toHaveText("Deleted message");
  await expect(aliceSees.locator(".quote-text")).toHaveText("Deleted message");
  await a.context.close();
  await b.context.close();
});

test("tapping a quote jumps to the original: on screen, and far back in a long history", async ({ browser }) => {
  const alice = uname("jmpa");
  const bob = uname("jmpb");
  const a = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice" });
  const b = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob" });
  const { conversation } = await api(CHAT_URL, "POST", "/conversations", a.token, { type: "direct", user_id: b.user.id });
  const path = `/conversations/${conversation.id}/messages`;
  let first = 0;
  let near = 0;
  for (let i = 1; i <= 130; i++) {
    const body: Record<string, unknown> = { body: `history ${i}`, client_id: `jump-${i}` };
    if (i === 126) body.reply_to = near;
    if (i === 130) body.reply_to = first;
    const { message } = await api(CHAT_URL, "POST", path, i % 2 ? a.token : b.token, body);
    if (i === 3) first = message.id;
    if (i === 124) near = message.id;
  }

  const phone = await newPhone(browser);
  await signIn(phone.page, bob);
  const history: string[] = [];
  phone.page.on("request", (r) => {
    if (r.url().includes(`/api/v1${path}`)) history.push(new URL(r.url()).search);
  });
  await phone.page.getByRole("link", { name: /Alice/ }).click();
  const log = phone.page.getByRole("log", { name: "Messages" });
  const scroller = phone.page.locator(".messages");
  // By the exact body: "history 13" followed by the time "01:00" would match "history 130" as text.
  const bubble = (n: number) => log.locator(".msg", { has: phone.page.locator(".body", { hasText: new RegExp(`^history ${n}$`) }) });
  const last = bubble(130);
  await expect(last).toBeVisible();
  await expect(bubble(3)).toHaveCount(0); // not loaded

  // On screen already: no request, the original is scrolled to and highlighted.
  await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
  const asked = history.length;
  await bubble(126).locator(".quote").click();
  const nearOriginal = bubble(124);
  await expect(nearOriginal).toHaveClass(/flash/);
  await expect(nearOriginal).toBeInViewport();
  expect(history.length).toBe(asked);

  // Far back (seq 3 of 130): one page around it is loaded, it is scrolled to and highlighted.
  await scroller.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
  await expect(last.locator(".quote-text")).toHaveText("history 3");
  await last.locator(".quote").click();
  const farOriginal = bubble(3);
  await expect(farOriginal).toBeInViewport();
  await expect(farOriginal).toHaveClass(/flash/);
  expect(history.slice(asked)[0]).toMatch(/before=18/);
  await shot(phone.page, "18-reply-jump");
  // Between the window and the latest page: history not loaded yet, filled as the reader scrolls down.
  await expect(log.locator(".hole")).toHaveCount(1);
  for (let i = 0; i < 20 && (await log.locator(".hole").count()) > 0; i++) {
    await log.locator(".hole").first().evaluate((el) => el.scrollIntoView({ block: "end" }));
    await phone.page.waitForTimeout(250);
  }
  await expect(log.locator(".hole")).toHaveCount(0);
  const seqs = await log.locator(".msg").evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
  expect(seqs).toEqual(Array.from({ length: 130 }, (_, i) => i + 1));
  // And back to the latest in one tap.
  await scroller.evaluate((el) => el.scrollTo({ top: 0 }));
  await phone.page.getByRole("button", { name: "Jump to the latest messages" }).click();
  await expect(last).toBeInViewport();
  await phone.context.close();
});
