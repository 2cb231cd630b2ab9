import { expect, test, type Page } from "@playwright/test";
import { readFile } from "node:fs/promises";
import { api, newPhone, PASSWORD, send, shot, signIn, uname } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

/** Two accounts made over REST, with a direct conversation and a group holding both. */
async function seed(prefix: string) {
  const alice = uname(`${prefix}a`);
  const bob = uname(`${prefix}b`);
  const a = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice" });
  const b = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob" });
  const dm = (await api(CHAT_URL, "POST", "/conversations", a.token, { type: "direct", user_id: b.user.id })).conversation;
  const group = (await api(CHAT_URL, "POST", "/conversations", a.token, { type: "group", name: `Book club ${prefix}`, member_ids: [b.user.id] })).conversation;
  await api(CHAT_URL, "POST", `/conversations/${group.id}/messages`, a.token, { body: "Chapter 3 tonight?", client_id: `${prefix}-g1` });
  await api(CHAT_URL, "POST", `/conversations/${dm.id}/messages`, a.token, { body: "Hi Bob", client_id: `${prefix}-d1` });
  return { alice, bob, a, b, dm, group };
}

async function openSettings(page: Page) {
  await page.getByRole("link", { name: "Settings" }).click();
  await expect(page.getByRole("heading", { name: "Settings" })).toBeVisible();
}

test("rename: the own header follows at once, the other phone live in bubbles, member lists and titles", async ({ browser }) => {
  const { alice, bob, group } = await seed("ren");
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  await signIn(a.page, alice);
  await signIn(b.page, bob);
  await expect(a.page.locator(".me-name")).toHaveText(`Alice · @${alice}`);

  // Bob has the group open (a group bubble names its sender) and its member list one tap away.
  await b.page.getByRole("link", { name: new RegExp(`Book club ren`) }).click();
  const bubble = b.page.locator(".msg.theirs", { hasText: "Chapter 3 tonight?" });
  await expect(bubble.locator(".sender")).toHaveText("Alice");

  await openSettings(a.page);
  const name = a.page.getByLabel("Display name");
  await expect(name).toHaveValue("Alice");
  await name.fill("Alice Cooper");
  await a.page.getByRole("button", { name: "Save name" }).click();
  await expect(a.page.getByRole("status").filter({ hasText: "Saved" })).toContainText("Alice Cooper");
  await shot(a.page, "27-settings");

  // Live on Bob's phone, no reload: the bubble's sender, then the list's title of the direct conversation.
  await expect(bubble.locator(".sender")).toHaveText("Alice Cooper");
  await b.page.getByRole("link", { name: "Conversation details" }).click();
  await expect(b.page.getByRole("button", { name: "Profile of Alice Cooper" })).toBeVisible();
  await b.page.goto("/#/");
  await expect(b.page.getByRole("link", { name: /^Alice Cooper/ })).toBeVisible();

  // The own header follows too, and the name survives a reload (the server has it).
  await a.page.getByRole("link", { name: "Back to conversations" }).click();
  await expect(a.page.locator(".me-name")).toHaveText(`Alice Cooper · @${alice}`);
  await a.page.reload();
  await expect(a.page.locator(".me-name")).toHaveText(`Alice Cooper · @${alice}`);
  expect(group.id).toBeGreaterThan(0);
  await a.context.close();
  await b.context.close();
});

test("password change: a wrong current password is said inline; the right one signs the other device out", async ({ browser }) => {
  const { alice } = await seed("pwd");
  const here = await newPhone(browser);
  const other = await newPhone(browser);
  await signIn(here.page, alice);
  await signIn(other.page, alice);

  await openSettings(here.page);
  // Every login is listed (the seed's registration, these two phones), this one marked.
  const devices = here.page.getByRole("list", { name: "Signed-in devices" });
  await expect(devices.getByRole("listitem")).toHaveCount(3);
  await expect(devices.getByText("This device")).toHaveCount(1);

  await here.page.getByLabel("Current password").fill("not-the-password");
  await here.page.getByLabel(/^New password/).fill("brand-new-pass");
  await here.page.getByLabel("Confirm new password").fill("brand-new-pass");
  await here.page.getByRole("button", { name: "Change password" }).click();
  await expect(here.page.getByRole("alert").filter({ hasText: "Current password is wrong" })).toBeVisible();
  await expect(other.page.locator("body")).toHaveAttribute("data-connection", "connected");

  await here.page.getByLabel("Current password").fill(PASSWORD);
  await here.page.getByRole("button", { name: "Change password" }).click();
  await expect(here.page.getByRole("status").filter({ hasText: "Password changed" })).toContainText("other devices were signed out");

  // The other device is on the sign-in screen at once, saying why.
  await expect(other.page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(other.page.getByRole("status").filter({ hasText: "password was changed" })).toBeVisible();
  // This one stays signed in (and connected), also after a reload; the device list shrank to it.
  await expect(here.page.locator("body")).toHaveAttribute("data-connection", "connected");
  await here.page.reload();
  await expect(here.page.getByRole("heading", { name: "Settings" })).toBeVisible();
  await expect(devices.getByRole("listitem")).toHaveCount(1);
  await expect(api(CHAT_URL, "POST", "/auth/login", null, { username: alice, password: PASSWORD })).rejects.toThrow(/401/);
  await api(CHAT_URL, "POST", "/auth/login", null, { username: alice, password: "brand-new-pass" });
  await here.context.close();
  await other.context.close();
});

test("export my data: a JSON download holding the own messages", async ({ browser }) => {
  const { alice } = await seed("exp");
  const a = await newPhone(browser);
  await signIn(a.page, alice);
  await a.page.getByRole("link", { name: /^Bob/ }).click();
  await send(a.page, "words worth exporting");
  await expect(a.page.locator(".msg.mine:not(.pending)", { hasText: "words worth exporting" })).toBeVisible();
  await a.page.goto("/#/settings");
  const [download] = await Promise.all([a.page.waitForEvent("download"), a.page.getByRole("button", { name: "Export my data" }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^chat-export-${alice}-\\d{4}-\\d{2}-\\d{2}\\.json$`));
  const data = JSON.parse(await readFile(await download.path(), "utf8"));
  expect(data.user.username).toBe(alice);
  const bodies = (data.messages as { body: string }[]).map((m) => m.body);
  expect(bodies).toContain("words worth exporting");
  expect(bodies).toContain("Hi Bob");
  await expect(a.page.getByRole("status").filter({ hasText: "downloaded" })).toBeVisible();
  await a.context.close();
});

test("close account: a wrong password is said inline; then signed out, sign-in refused, 'Deleted user' on the other phone", async ({ browser }) => {
  const { alice, bob } = await seed("del");
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  await signIn(a.page, alice);
  await signIn(b.page, bob);
  await b.page.getByRole("link", { name: /^Alice/ }).click();
  await expect(b.page.locator(".msg.theirs", { hasText: "Hi Bob" })).toBeVisible();

  await openSettings(a.page);
  const close = a.page.getByRole("form", { name: "Close account" });
  await close.getByLabel("Password").fill("wrong-password");
  await close.getByRole("button", { name: "Close my account" }).click();
  await a.page.getByRole("dialog", { name: "Close your account?" }).getByRole("button", { name: "Close my account" }).click();
  await expect(close.getByRole("alert")).toHaveText("Password is wrong");
  await expect(a.page.locator("body")).toHaveAttribute("data-connection", "connected");

  await close.getByLabel("Password").fill(PASSWORD);
  await close.getByRole("button", { name: "Close my account" }).click();
  const confirm = a.page.getByRole("dialog", { name: "Close your account?" });
  await expect(confirm).toContainText("can't be undone");
  // Cancel first: nothing happens.
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(a.page.getByRole("heading", { name: "Settings" })).toBeVisible();
  await close.getByRole("button", { name: "Close my account" }).click();
  await confirm.getByRole("button", { name: "Close my account" }).click();
  await expect(a.page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(a.page.getByRole("status").filter({ hasText: "account is closed" })).toBeVisible();

  // Signing in again is refused.
  await a.page.getByLabel("Username").fill(alice);
  await a.page.getByLabel("Password (8+ characters)").fill(PASSWORD);
  await a.page.getByRole("button", { name: "Sign in" }).click();
  await expect(a.page.getByRole("alert")).not.toBeEmpty();
  await expect(a.page.getByRole("heading", { name: "Sign in" })).toBeVisible();

  // Bob's open conversation now reads "Deleted user"; the message stays and renders.
  await expect(b.page.locator(".chat-title")).toHaveText("Deleted user");
  await expect(b.page.locator(".msg.theirs", { hasText: "Hi Bob" })).toBeVisible();
  await expect(b.page.locator(".block-bar")).toContainText("This account was closed");
  await expect(b.page.getByLabel("Message", { exact: true })).toBeHidden();
  await expect(b.page.getByRole("button", { name: "Profile of Deleted user" })).toContainText("DU");
  await b.page.getByRole("button", { name: "Profile of Deleted user" }).click();
  await expect(b.page.getByRole("dialog", { name: /Profile of/ })).toContainText("This account was closed");
  await a.context.close();
  await b.context.close();
});
