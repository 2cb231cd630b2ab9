import { expect, test, type Page } from "@playwright/test";
import { api, newPhone, PASSWORD, shot, signIn, uname } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

async function seedPair() {
  const alice = uname("lay_a");
  const bob = uname("lay_b");
  const a = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice Liddell" });
  const b = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob Builder" });
  const { conversation } = await api(CHAT_URL, "POST", "/conversations", a.token, { type: "direct", user_id: b.user.id });
  await api(CHAT_URL, "POST", `/conversations/${conversation.id}/messages`, a.token, {
    body: "A long line without spaces: " + "x".repeat(200),
    client_id: "layout-1",
  });
  return { alice, bob };
}

async function noHorizontalOverflow(page: Page) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  expect(scroll).toBeLessThanOrEqual(client);
}

test("usable at 360 px: nothing overflows sideways", async ({ browser }) => {
  const { bob } = await seedPair();
  const phone = await newPhone(browser, { viewport: { width: 360, height: 740 } });
  await signIn(phone.page, bob);
  await noHorizontalOverflow(phone.page);
  await phone.page.getByRole("link", { name: /Alice Liddell/ }).click();
  await expect(phone.page.locator(".msg", { hasText: "A long line" })).toBeVisible();
  await noHorizontalOverflow(phone.page);
  await phone.context.close();
});

test("desktop, keyboard only: send with Enter, message actions via the ⋯ button, Escape closes", async ({ browser }) => {
  const { bob } = await seedPair();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, isMobile: false, hasTouch: false });
  const page = await context.newPage();
  await signIn(page, bob);
  await page.getByRole("link", { name: /Alice Liddell/ }).focus();
  await page.keyboard.press("Enter");
  const composer = page.getByLabel("Message", { exact: true });
  await expect(composer).toBeFocused();
  await page.keyboard.type("sent from the keyboard");
  await page.keyboard.press("Enter");
  const mine = page.locator(".msg.mine:not(.pending)", { hasText: "sent from the keyboard" });
  await expect(mine).toBeVisible();
  await expect(composer).toHaveValue("");

  await mine.getByRole("button", { name: "Message actions" }).focus();
  await page.keyboard.press("Enter");
  const sheet = page.getByRole("dialog", { name: "Message actions" });
  await expect(sheet).toBeVisible();
  await expect(sheet.getByRole("button", { name: "React 👍" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(sheet).toHaveCount(0);
  await shot(page, "10-desktop");
  await context.close();
});
