import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fakeSubscription, PushService } from "../../e2e/pushService";
import type { ChatClient } from "../../src/core/client";
import { MUTE_FOREVER, notificationState } from "../../src/core/settings";
import { CHAT_URL, connected, makeClient, registered, until } from "./helpers";

/**
 * v2 notifications through the core against the real server: mentions and their unread
 * counts, per-conversation settings across a user's devices, push registration, and the
 * `delivered` receipt that holds a push back while the app is listening. The push service is
 * a local receiver that decrypts what the server sends (e2e/pushService.ts; with-server.sh
 * allows its loopback endpoint).
 */
const open: ChatClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

let pushService: PushService;
beforeAll(async () => {
  pushService = await PushService.start();
});
afterAll(async () => {
  await pushService?.stop();
});

async function group() {
  const alice = await registered("alice");
  const bob = await registered("bob");
  open.push(alice, bob);
  await connected(alice);
  await connected(bob);
  const g = await alice.createGroup("Crew", [bob.me!.id]);
  await until(() => bob.state.conversations[String(g.id)]?.conversation, 5_000, "bob sees the group");
  return { alice, bob, g, key: String(g.id) };
}

describe.skipIf(!CHAT_URL)(`notifications against ${CHAT_URL || "(set CHAT_URL)"}`, () => {
  it("a mention reaches the message, the unread count of mentions (live and at the next connect) and a read clears it", async () => {
    const { alice, bob, g, key } = await group();
    await alice.sendMessage(g.id, `ping @${bob.me!.username}, and @nobody_here`);
    await until(() => bob.state.conversations[key].unread_mentions === 1, 5_000, "bob's unread mention");
    const m = bob.state.conversations[key].messages.at(-1)!;
    expect(m.mentions).toEqual([bob.me!.id]);
    await alice.sendMessage(g.id, "no mention here");
    await until(() => bob.state.conversations[key].unread_count === 2, 5_000, "two unread");
    expect(bob.state.conversations[key].unread_mentions).toBe(1);

    // Another device of Bob's learns it from ready.
    const laptop = makeClient();
    open.push(laptop);
    await laptop.login(bob.me!.username, "password-123");
    await connected(laptop);
    expect(laptop.state.conversations[key].unread_mentions).toBe(1);

    await bob.openConversation(g.id);
    await bob.markRead(g.id);
    expect(bob.state.conversations[key].unread_mentions).toBe(0);
    await until(() => laptop.state.conversations[key].unread_mentions === 0, 5_000, "the laptop's count follows");
  });

  it("a deleted mention leaves mentions [] and the count", async () => {
    const { alice, bob, g, key } = await group();
    await alice.sendMessage(g.id, `@${bob.me!.username} look`);
    await until(() => bob.state.conversations[key].unread_mentions === 1, 5_000, "mentioned");
    await until(() => alice.outbox.size === 0, 5_000, "acknowledged");
    await alice.deleteMessage(alice.state.conversations[key].messages.at(-1)!);
    await until(() => bob.state.conversations[key].messages.at(-1)?.deleted, 5_000, "deleted on bob's side");
    expect(bob.state.conversations[key].messages.at(-1)).toMatchObject({ body: "", mentions: [] });
    await until(() => bob.state.conversations[key].unread_mentions === 0, 5_000, "count dropped");
  });

  it("settings changed on one device reach the user's other devices; the other member's stay as they were", async () => {
    const { alice, bob, g, key } = await group();
    const laptop = makeClient();
    open.push(laptop);
    await laptop.login(bob.me!.username, "password-123");
    await connected(laptop);

    await bob.updateSettings(g.id, { notifications: "mentions" });
    expect(bob.state.conversations[key].conversation!.notifications).toBe("mentions");
    await until(() => laptop.state.conversations[key].conversation?.notifications === "mentions", 5_000, "the laptop follows");
    await bob.mute(g.id, "always");
    expect(Date.parse(bob.state.conversations[key].conversation!.muted_until!)).toBeGreaterThanOrEqual(Date.parse(MUTE_FOREVER));
    await until(() => notificationState(laptop.state.conversations[key].conversation, Date.now()).forever, 5_000, "muted on the laptop");
    await bob.unmute(g.id);
    expect(bob.state.conversations[key].conversation!.muted_until).toBeNull();
    // Alice's own settings are untouched.
    expect((await alice.rest.getConversation(g.id)).notifications).toBe("all");
  });

  it("registers a Web Push subscription and an FCM token once each; logout drops them", async () => {
    const bob = await registered("bob");
    open.push(bob);
    const sub = fakeSubscription(pushService.url);
    const web = { type: "webpush" as const, endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth }, device_name: "Test phone" };
    const first = await bob.registerPush(web);
    expect(first).toMatchObject({ type: "webpush", device_name: "Test phone" });
    expect((await bob.registerPush(web)).id).toBe(first.id); // idempotent: register on every start
    const fcm = await bob.registerPush({ type: "fcm", token: `fcm-${sub.auth}` });
    expect((await bob.rest.pushSubscriptions()).map((s) => s.id).sort()).toEqual([first.id, fcm.id].sort());
    await bob.rest.unsubscribePush(fcm.id);
    expect((await bob.rest.pushSubscriptions()).map((s) => s.id)).toEqual([first.id]);

    const name = bob.me!.username;
    await bob.logout();
    const again = makeClient();
    open.push(again);
    await again.login(name, "password-123");
    expect(await again.rest.pushSubscriptions()).toEqual([]);
  });

  it("a listening client's delivered receipt holds the push back; once it stops listening it is pushed", async () => {
    const { alice, bob, g } = await group();
    const sub = fakeSubscription(pushService.url);
    await bob.registerPush({ type: "webpush", endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } });

    // Bob's client never opened the group: the receipt goes out all the same.
    await alice.sendMessage(g.id, "heard live");
    await until(() => bob.state.conversations[String(g.id)].messages.some((m) => m.body === "heard live"), 5_000, "bob has it");
    await new Promise((r) => setTimeout(r, 4_000)); // PUSH_DELAY_SECONDS (2) + a poll, with room
    expect(pushService.pushesFor(sub)).toEqual([]);

    bob.disconnect();
    const sent = Date.now();
    await alice.sendMessage(g.id, "while away");
    const { push, data } = await pushService.waitFor(sub, (d) => d.type === "message", 10_000);
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(data).toMatchObject({ conversation_id: g.id, sender_id: alice.me!.id, body: "while away", title: "alice test in Crew", mentioned: false });
    expect(push.headers.topic).toBe(`c${g.id}`);
  }, 30_000);
});
