import { afterEach, describe, expect, it } from "vitest";
import type { ChatClient } from "../../src/core/client";
import { holes } from "../../src/core/messages";
import { MemoryStorage } from "../../src/core/storage";
import { CHAT_URL, connected, makeClient, registered, until } from "./helpers";

const open: ChatClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

async function pair() {
  const alice = await registered("rpa");
  const bob = await registered("rpb");
  open.push(alice, bob);
  await connected(alice);
  await connected(bob);
  const dm = await alice.startDirect(bob.me!.id);
  await until(() => bob.state.conversations[String(dm.id)]?.conversation, 5_000, "bob sees the DM");
  return { alice, bob, dm };
}

const held = (c: ChatClient, cid: number, body: string) => c.state.conversations[String(cid)]?.messages.find((m) => m.body === body);

describe.skipIf(!CHAT_URL)(`replies against ${CHAT_URL || "(set CHAT_URL)"}`, () => {
  it("a reply carries the quote on both sides; the quote follows an edit and a delete of the original", async () => {
    const { alice, bob, dm } = await pair();
    await alice.sendMessage(dm.id, "Lunch at noon?");
    const original = (await until(() => held(bob, dm.id, "Lunch at noon?"), 5_000, "bob has the original"))!;
    bob.startReply(dm.id, original);
    await bob.sendMessage(dm.id, "Yes", { replyTo: bob.replyingTo(dm.id) });
    expect(bob.replyingTo(dm.id)).toBeNull();
    const mine = (await until(() => held(bob, dm.id, "Yes"), 5_000, "bob's reply acked"))!;
    expect(mine.reply_to).toEqual({ id: original.id, seq: original.seq, sender_id: alice.me!.id, body: "Lunch at noon?", deleted: false });
    const theirs = (await until(() => held(alice, dm.id, "Yes"), 5_000, "alice gets the reply"))!;
    expect(theirs.reply_to?.id).toBe(original.id);

    await alice.editMessage(original.id, "Lunch at one?");
    await until(() => held(bob, dm.id, "Yes")?.reply_to?.body === "Lunch at one?", 5_000, "bob's quote follows the edit");
    const aliceOriginal = held(alice, dm.id, "Lunch at one?")!;
    await alice.deleteMessage(aliceOriginal);
    await until(() => held(bob, dm.id, "Yes")?.reply_to?.deleted === true, 5_000, "bob's quote shows the delete");
    expect(held(bob, dm.id, "Yes")!.reply_to!.body).toBe("");
    // What the live events left equals a fresh fetch of the history.
    const fresh = await bob.rest.messages(dm.id, { limit: 10 });
    expect(fresh.messages.find((m) => m.body === "Yes")!.reply_to).toEqual(held(bob, dm.id, "Yes")!.reply_to);
  });

  it("a queued reply survives a restart; a reply to a message deleted meanwhile still arrives, without the quote", async () => {
    const { alice, bob, dm } = await pair();
    await alice.sendMessage(dm.id, "soon gone");
    const original = (await until(() => held(bob, dm.id, "soon gone"), 5_000, "bob has it"))!;
    const storage = new MemoryStorage();
    const offline = makeClient(storage);
    await offline.login(bob.me!.username, "password-123");
    await offline.sendMessage(dm.id, "replying late", { replyTo: original }); // never connected: queued
    expect(offline.outbox.list()[0].reply_to?.id).toBe(original.id);
    await alice.deleteMessage(held(alice, dm.id, "soon gone")!);

    const restarted = makeClient(storage);
    open.push(restarted);
    await restarted.restore();
    await connected(restarted);
    await until(() => restarted.outbox.size === 0, 5_000, "the queued reply is sent");
    const page = await restarted.rest.messages(dm.id, { limit: 10 });
    const sent = page.messages.filter((m) => m.body === "replying late");
    expect(sent).toHaveLength(1);
    expect(sent[0].reply_to).toBeNull();
  });

  it("loadAround brings a far-back original; fillHole closes the hole from both sides", async () => {
    const { alice, bob: live, dm } = await pair();
    const first = await alice.rest.sendMessage(dm.id, "the very first", "far-1");
    for (let i = 2; i <= 120; i++) await alice.rest.sendMessage(dm.id, `m${i}`, `far-${i}`, i === 120 ? { reply_to: first.id } : {});
    // Bob's other phone opens the conversation afresh: the latest page only.
    const bob = makeClient();
    await bob.login(live.me!.username, "password-123");
    await bob.openConversation(dm.id);
    const c0 = bob.state.conversations[String(dm.id)];
    expect(c0.messages[0].seq).toBeGreaterThan(1);
    expect(c0.messages.at(-1)!.reply_to?.id).toBe(first.id);

    const found = await bob.loadAround(dm.id, first.seq);
    expect(found?.body).toBe("the very first");
    let gaps = holes(bob.state.conversations[String(dm.id)].messages);
    expect(gaps).toHaveLength(1);
    for (let i = 0; i < 10 && gaps.length; i++) {
      await bob.fillHole(dm.id, gaps[0], i % 2 ? "up" : "down");
      gaps = holes(bob.state.conversations[String(dm.id)].messages);
    }
    expect(gaps).toEqual([]);
    expect(bob.state.conversations[String(dm.id)].messages.map((m) => m.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(bob.state.conversations[String(dm.id)].has_older).toBe(false);
  });
});
