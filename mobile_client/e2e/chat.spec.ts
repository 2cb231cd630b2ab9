import { expect, test } from "@playwright/test";
import { newPhone, openDm, send, shot, signUp, uname } from "./helpers";

test("two users chat on phones: typing, presence, ticks, reactions, edit, delete", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser);
  const alice = uname("alice");
  const bob = uname("bob");

  await a.page.goto("/");
  await expect(a.page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await shot(a.page, "01-sign-in");

  await signUp(a.page, alice, "Alice");
  await signUp(b.page, bob, "Bob");

  await openDm(a.page, bob, "Bob");
  // Presence: Bob is connected, so Alice's header says online.
  await expect(a.page.locator(".chat-sub")).toHaveText("online");

  await send(a.page, "Hi Bob! 👋");
  const aliceMsg = a.page.locator(".msg.mine", { hasText: "Hi Bob!" });
  await expect(aliceMsg.locator(".tick")).toHaveAttribute("data-status", /sent|delivered/);

  // Bob's list: unread badge, preview, online dot, and the total in the title.
  const row = b.page.getByRole("link", { name: /Alice, 1 unread, online/ });
  await expect(row).toBeVisible();
  await expect(row.locator(".preview")).toHaveText("Hi Bob! 👋");
  await expect(b.page).toHaveTitle("(1) Chat");
  // Delivered receipt (two ticks) once Bob's device has the message, if the server supports it.
  await expect(aliceMsg.locator(".tick")).toHaveAttribute("data-status", "delivered");
  await shot(b.page, "02-conversation-list");

  await row.click();
  await expect(b.page.locator(".msg.theirs", { hasText: "Hi Bob!" })).toBeVisible();
  // Bob has read it: Alice's tick turns to read, the title badge goes away.
  await expect(aliceMsg.locator(".tick")).toHaveAttribute("data-status", "read");
  await expect(b.page).toHaveTitle("Alice");

  // Typing indicator, without sending.
  await b.page.getByLabel("Message", { exact: true }).fill("I am typ");
  await expect(a.page.locator(".typing")).toHaveText("Bob is typing…");
  await send(b.page, "Hello Alice, nice to meet you");
  await expect(a.page.locator(".msg.theirs", { hasText: "nice to meet you" })).toBeVisible();
  await expect(a.page.locator(".typing")).toHaveText("");

  // Reaction via long-press (contextmenu on touch devices) and the action sheet.
  await b.page.locator(".msg.theirs", { hasText: "Hi Bob!" }).dispatchEvent("contextmenu");
  await expect(b.page.getByRole("dialog", { name: "Message actions" })).toBeVisible();
  await shot(b.page, "04-message-actions");
  await b.page.getByRole("button", { name: "React 👍" }).click();
  await expect(aliceMsg.locator(".reaction")).toHaveText("👍 1");

  // Edit and delete our own message.
  await a.page.locator(".msg.mine:not(.pending)", { hasText: "Hi Bob!" }).dispatchEvent("contextmenu");
  await a.page.getByRole("button", { name: "Edit" }).click();
  await a.page.getByLabel("Message", { exact: true }).fill("Hi Bob! (edited)");
  await a.page.getByRole("button", { name: "Send" }).click();
  await expect(b.page.locator(".msg.theirs", { hasText: "(edited)" }).locator(".edited")).toBeVisible();
  await send(a.page, "this one will vanish");
  await expect(b.page.locator(".msg", { hasText: "this one will vanish" })).toBeVisible();
  // Acknowledged (no longer the queued bubble) before acting on it.
  const vanishing = a.page.locator(".msg.mine:not(.pending)", { hasText: "this one will vanish" });
  await expect(vanishing.locator(".tick")).toHaveAttribute("data-status", "read");
  await vanishing.dispatchEvent("contextmenu");
  await a.page.getByRole("button", { name: "Delete" }).click();
  await expect(b.page.locator(".msg", { hasText: "this one will vanish" })).toHaveCount(0);
  await expect(b.page.locator(".msg.deleted")).toHaveCount(1);
  // The server relays at most one typing start per 2 s window (a stop does not reopen it).
  await b.page.waitForTimeout(2_100);
  await b.page.getByLabel("Message", { exact: true }).fill("typing again");
  await expect(a.page.locator(".typing")).toHaveText("Bob is typing…");
  await shot(a.page, "03-chat");

  // Presence: Bob leaves, Alice sees him go offline (server grace <= 5 s).
  await b.context.close();
  await expect(a.page.locator(".chat-sub")).toHaveText(/last seen|offline/, { timeout: 15_000 });
  await a.context.close();
});

test("groups and public rooms: create, browse, join", async ({ browser }) => {
  const a = await newPhone(browser);
  const b = await newPhone(browser, { colorScheme: "dark" });
  const owner = uname("owner");
  const guest = uname("guest");
  await signUp(b.page, guest, "Guest");
  await signUp(a.page, owner, "Owner");

  await a.page.getByRole("link", { name: "New conversation" }).click();
  const room = `Lobby ${owner}`;
  await a.page.getByLabel("Group name").fill(room);
  await a.page.getByLabel("Visibility").selectOption("public");
  await shot(a.page, "05-new-conversation");
  await a.page.getByRole("button", { name: "Create group" }).click();
  await expect(a.page.locator(".chat-title")).toHaveText(room);
  await send(a.page, "Welcome to the lobby");

  await b.page.getByRole("link", { name: "Browse public rooms" }).click();
  await b.page.getByLabel("Search rooms").fill(owner);
  await expect(b.page.getByRole("button", { name: `Join ${room}` })).toBeVisible();
  await shot(b.page, "06-public-rooms-dark");
  await b.page.getByRole("button", { name: `Join ${room}` }).click();
  await expect(b.page.locator(".chat-title")).toHaveText(room);
  await expect(b.page.locator(".msg", { hasText: "Welcome to the lobby" })).toBeVisible();
  await send(b.page, "Thanks for having me");
  await expect(a.page.locator(".msg.theirs", { hasText: "Thanks for having me" })).toBeVisible();
  await expect(a.page.locator(".chat-sub")).toHaveText(/2 members/);

  // Group management: the owner sees both members with roles.
  await a.page.getByRole("link", { name: "Conversation details" }).click();
  await expect(a.page.locator(".member")).toHaveCount(2);
  await expect(a.page.getByRole("button", { name: "Remove Guest" })).toBeVisible();
  await shot(a.page, "07-group-info");
  await a.context.close();
  await b.context.close();
});
