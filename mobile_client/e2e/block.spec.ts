import { expect, test } from "@playwright/test";
import { api, newPhone, PASSWORD, send, shot, signIn, uname } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

test("block from the profile: the blocked side's send is refused on its bubble, the blocker's composer says so; unblock restores", async ({ browser }) => {
  const alice = uname("blka");
  const bob = uname("blkb");
  const a0 = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice" });
  const b0 = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob" });
  const dm = (await api(CHAT_URL, "POST", "/conversations", b0.token, { type: "direct", user_id: a0.user.id })).conversation;
  await api(CHAT_URL, "POST", `/conversations/${dm.id}/messages`, b0.token, { body: "hey, got a minute?", client_id: "blk-1" });
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  await signIn(a.page, alice);
  await signIn(b.page, bob);
  await a.page.getByRole("link", { name: /^Bob/ }).click();
  await b.page.getByRole("link", { name: /^Alice/ }).click();
  await expect(a.page.locator(".msg.theirs", { hasText: "got a minute" })).toBeVisible();

  // Alice opens Bob's profile from the header and blocks him, after a confirmation.
  await a.page.getByRole("button", { name: "Profile of Bob" }).click();
  const profile = a.page.getByRole("dialog", { name: "Profile of Bob" });
  await expect(profile).toContainText(`@${bob}`);
  await profile.getByRole("button", { name: "Block" }).click();
  const confirm = a.page.getByRole("dialog", { name: "Block Bob?" });
  await expect(confirm).toContainText("won't be able to message you");
  await shot(a.page, "28-block-confirm");
  await confirm.getByRole("button", { name: "Block" }).click();
  await expect(profile).toContainText("Blocked");
  await expect(profile.getByRole("button", { name: "Unblock" })).toBeVisible();
  await profile.getByRole("button", { name: "Close" }).click();

  // Alice's composer is replaced by the block notice; the header no longer claims presence.
  const bar = a.page.locator(".block-bar");
  await expect(bar).toContainText("You blocked Bob");
  await expect(a.page.getByLabel("Message", { exact: true })).toBeHidden();
  await expect(a.page.locator(".chat-sub")).toHaveText("blocked");
  await shot(a.page, "29-blocked-composer");

  // Bob can't send: the server refuses, the bubble says so, and it is not retried.
  await send(b.page, "are you there?");
  const refused = b.page.locator(".msg.pending.failed", { hasText: "are you there?" });
  await expect(refused).toContainText("Couldn't send");
  await expect(refused.getByRole("button", { name: "Retry" })).toBeVisible();
  const history = await api(CHAT_URL, "GET", `/conversations/${dm.id}/messages`, a0.token);
  expect(history.messages.map((m: any) => m.body)).not.toContain("are you there?");
  await a.page.waitForTimeout(500);
  await expect(a.page.locator(".msg", { hasText: "are you there?" })).toHaveCount(0);

  // The block is listed in Alice's settings.
  await a.page.goto("/#/settings");
  await expect(a.page.getByRole("list", { name: "Blocked users" })).toContainText("Bob");
  await a.page.goBack();

  // Unblock from the notice: the composer is back; Bob's retry goes through, and Alice can write.
  await a.page.locator(".block-bar").getByRole("button", { name: "Unblock" }).click();
  await a.page.getByRole("dialog", { name: "Unblock Bob?" }).getByRole("button", { name: "Unblock" }).click();
  await expect(a.page.getByLabel("Message", { exact: true })).toBeVisible();
  await expect(a.page.locator(".block-bar")).toBeHidden();
  await refused.getByRole("button", { name: "Retry" }).click();
  await expect(a.page.locator(".msg.theirs", { hasText: "are you there?" })).toBeVisible();
  await expect(b.page.locator(".msg.mine:not(.pending)", { hasText: "are you there?" })).toBeVisible();
  await send(a.page, "yes, sorry!");
  await expect(b.page.locator(".msg.theirs", { hasText: "yes, sorry!" })).toBeVisible();
  await a.context.close();
  await b.context.close();
});

test("report from the message sheet: a reason, then 'Reported, thank you'", async ({ browser }) => {
  const alice = uname("repa");
  const bob = uname("repb");
  const a0 = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice" });
  const b0 = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob" });
  const dm = (await api(CHAT_URL, "POST", "/conversations", a0.token, { type: "direct", user_id: b0.user.id })).conversation;
  await api(CHAT_URL, "POST", `/conversations/${dm.id}/messages`, a0.token, { body: "buy cheap watches at example.test", client_id: "rep-1" });
  const b = await newPhone(browser);
  await signIn(b.page, bob);
  await b.page.getByRole("link", { name: /^Alice/ }).click();
  const spam = b.page.locator(".msg.theirs", { hasText: "cheap watches" });
  await spam.dispatchEvent("contextmenu");
  await b.page.getByRole("dialog", { name: "Message actions" }).getByRole("button", { name: "Report" }).click();
  const sheet = b.page.getByRole("dialog", { name: "Report message" });
  await expect(sheet).toContainText("cheap watches");
  const sendReport = sheet.getByRole("button", { name: "Send report" });
  await expect(sendReport).toBeDisabled();
  await sheet.getByLabel("Why are you reporting this message?").fill("Spam");
  await shot(b.page, "30-report");
  const [answer] = await Promise.all([
    b.page.waitForResponse((r) => r.url().includes("/report") && r.request().method() === "POST"),
    sendReport.click(),
  ]);
  expect(answer.status()).toBe(201);
  expect((await answer.json()).report.id).toBeGreaterThan(0);
  await expect(sheet.getByRole("status")).toHaveText(/Reported, thank you/);
  await sheet.getByRole("button", { name: "Done" }).click();
  await expect(sheet).toHaveCount(0);
  // Our own messages offer no Report.
  await send(b.page, "thanks, reported");
  await b.page.locator(".msg.mine:not(.pending)", { hasText: "thanks, reported" }).dispatchEvent("contextmenu");
  await expect(b.page.getByRole("dialog", { name: "Message actions" }).getByRole("button", { name: "Report" })).toHaveCount(0);
  await b.context.close();
});
