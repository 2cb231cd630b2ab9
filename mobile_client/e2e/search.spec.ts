import { expect, test, type Page } from "@playwright/test";
import { api, newPhone, PASSWORD, shot, signIn, uname } from "./helpers";

const CHAT_URL = process.env.CHAT_URL!;

/**
 * Alice and Bob with a direct conversation (two café messages, then 70 more, so the first
 * one is far outside the latest page) and a group (one café message and 25 "needle" ones, more
 * than a page of results).
 */
async function seed() {
  const alice = uname("sra");
  const bob = uname("srb");
  const a = await api(CHAT_URL, "POST", "/auth/register", null, { username: alice, password: PASSWORD, display_name: "Alice" });
  const b = await api(CHAT_URL, "POST", "/auth/register", null, { username: bob, password: PASSWORD, display_name: "Bob" });
  const dm = (await api(CHAT_URL, "POST", "/conversations", a.token, { type: "direct", user_id: b.user.id })).conversation;
  const group = (await api(CHAT_URL, "POST", "/conversations", a.token, { type: "group", name: "Trip planning", member_ids: [b.user.id] })).conversation;
  const post = (token: string, cid: number, body: string, n: string) =>
    api(CHAT_URL, "POST", `/conversations/${cid}/messages`, token, { body, client_id: `${n}-${alice}` });
  const cafe = (await post(b.token, dm.id, "Café au lait tomorrow?", "c1")).message;
  await post(b.token, dm.id, "🎉🎉 The cafeteria is closed today", "c2");
  for (let i = 1; i <= 70; i++) await post(i % 2 ? a.token : b.token, dm.id, `filler ${i}`, `f${i}`);
  await post(a.token, group.id, "cafe meeting at noon", "g1");
  for (let i = 1; i <= 25; i++) await post(b.token, group.id, `needle number ${i}`, `n${i}`);
  return { alice, dm, group, cafe };
}

const hits = (page: Page) => page.getByRole("list", { name: "Search results" }).locator(".search-hit");
const field = (page: Page) => page.getByRole("searchbox", { name: "Search messages" });

test("search every conversation as you type: accents ignored, matches marked, a result opens the conversation at that message", async ({ browser }) => {
  const { alice, dm, cafe } = await seed();
  const a = await newPhone(browser);
  await signIn(a.page, alice);
  await a.page.getByRole("link", { name: "Search messages" }).click();
  await expect(field(a.page)).toBeFocused();

  // "cafe" finds "Café", "cafeteria" and "cafe", newest first, each with sender and conversation.
  await field(a.page).pressSequentially("cafe", { delay: 30 });
  await expect(hits(a.page)).toHaveCount(3);
  await expect(hits(a.page).nth(0)).toContainText("cafe meeting at noon");
  await expect(hits(a.page).nth(0).locator(".hit-conv")).toHaveText("Trip planning");
  await expect(hits(a.page).nth(0).locator(".hit-sender")).toHaveText("You");
  await expect(hits(a.page).nth(1)).toContainText("The cafeteria is closed");
  await expect(hits(a.page).nth(1).locator(".hit-sender")).toHaveText("Bob");
  await expect(hits(a.page).nth(1).locator(".hit-conv")).toHaveText("Bob");
  // Marks sit on the matched words even with emoji (two UTF-16 units each) before them.
  await expect(hits(a.page).nth(1).locator("mark").first()).toHaveText(/^cafe/);
  await expect(hits(a.page).nth(2).locator("mark").first()).toHaveText(/^Café/);
  await expect(a.page.getByRole("status").filter({ hasText: "results" })).toHaveText("3 results");
  await shot(a.page, "25-search");

  // Every word must match the start of a word: "cafe tomo" leaves one, both words marked.
  await field(a.page).fill("cafe tomo");
  await expect(hits(a.page)).toHaveCount(1);
  await expect(hits(a.page).locator("mark")).toHaveText([/^Café/, /^tomo/]);
  await field(a.page).fill("zzqx");
  await expect(a.page.getByRole("status").filter({ hasText: "No messages match" })).toBeVisible();
  await expect(hits(a.page)).toHaveCount(0);
  // Over 200 characters: the server's validation_error, shown inline.
  await field(a.page).fill("y".repeat(201));
  await expect(a.page.getByRole("alert")).toContainText("at most 200 characters");

  // A result far back in history: the conversation opens scrolled to it, highlighted.
  await field(a.page).fill("cafe au");
  await expect(hits(a.page)).toHaveCount(1);
  await hits(a.page).click();
  await expect(a.page).toHaveURL(new RegExp(`#/c/${dm.id}/m/${cafe.seq}$`));
  const found = a.page.locator(".msg.hit");
  await expect(found.locator(".body")).toHaveText("Café au lait tomorrow?");
  await expect(found).toBeInViewport();
  await expect(a.page.locator(".msg .body").getByText("filler 70", { exact: true })).not.toBeInViewport();
  await shot(a.page, "26-search-jump");

  // Back: the same query and results.
  await a.page.goBack();
  await expect(field(a.page)).toHaveValue("cafe au");
  await expect(hits(a.page)).toHaveCount(1);
  await a.context.close();
});

test("search inside one conversation, with more results as the list scrolls", async ({ browser }) => {
  const { alice } = await seed();
  const a = await newPhone(browser);
  await signIn(a.page, alice);
  await a.page.getByRole("link", { name: /^Trip planning/ }).click();
  await a.page.getByRole("link", { name: "Search in this conversation" }).click();
  await expect(field(a.page)).toHaveAttribute("placeholder", "Search in Trip planning");
  await field(a.page).fill("cafe");
  // Only this conversation's match, not the two in the direct conversation.
  await expect(hits(a.page)).toHaveCount(1);
  await expect(hits(a.page)).toContainText("cafe meeting at noon");
  await expect(hits(a.page).locator(".hit-conv")).toHaveCount(0);

  // 25 matches: a page of 20, then the rest as the end of the list scrolls into view.
  await field(a.page).fill("needle");
  await expect(a.page.getByRole("status").filter({ hasText: "results" })).toHaveText("20+ results");
  await expect(hits(a.page).first()).toContainText("needle number 25");
  await hits(a.page).last().scrollIntoViewIfNeeded();
  await expect(hits(a.page)).toHaveCount(25);
  await expect(hits(a.page).last()).toContainText("needle number 1");
  await expect(a.page.getByRole("button", { name: "Load more" })).toBeHidden();

  // A tap opens the group at that message; the one on screen is highlighted.
  await hits(a.page).filter({ hasText: "needle number 3" }).first().click();
  await expect(a.page.locator(".msg.hit .body")).toHaveText("needle number 3");
  await expect(a.page.locator(".msg.hit")).toBeInViewport();
  await a.context.close();
});
