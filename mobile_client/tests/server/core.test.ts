import { afterEach, describe, expect, it } from "vitest";
import { ChatClient } from "../../src/core/client";
import type { OutboxEntry } from "../../src/core/outbox";
import { MemoryStorage } from "../../src/core/storage";
import type { Message } from "../../src/core/types";
import { io } from "socket.io-client";
import { CHAT_URL, connected, makeClient, registered, until, username } from "./helpers";

const open: ChatClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

async function pair() {
  const alice = await registered("alice");
  const bob = await registered("bob");
  open.push(alice, bob);
  await connected(alice);
  await connected(bob);
  const dm = await alice.startDirect(bob.me!.id);
  await until(() => bob.state.conversations[String(dm.id)]?.conversation, 5_000, "bob sees the DM");
  return { alice, bob, dm };
}

function bodies(c: ChatClient, id: number): string[] {
  return (c.state.conversations[String(id)]?.messages ?? []).map((m) => m.body);
}

describe.skipIf(!CHAT_URL)(`core against ${CHAT_URL || "(set CHAT_URL)"}`, () => {
  it("two clients DM in real time, with read receipts and unread counts", async () => {
    const { alice, bob, dm } = await pair();
    await alice.sendMessage(dm.id, "hi bob");
    await until(() => bodies(bob, dm.id).includes("hi bob"), 5_000, "bob receives");
    await until(() => bob.state.conversations[String(dm.id)].unread_count === 1, 5_000, "bob unread 1");
    expect(alice.outbox.size).toBe(0);

    await bob.sendMessage(dm.id, "hi alice");
    await until(() => bodies(alice, dm.id).includes("hi alice"), 5_000, "alice receives");

    await bob.markRead(dm.id);
    expect(bob.state.conversations[String(dm.id)].unread_count).toBe(0);
    const aliceMsg = alice.state.conversations[String(dm.id)].messages.find((m) => m.body === "hi bob")!;
    await until(() => (alice.state.conversations[String(dm.id)].read_by[String(bob.me!.id)] ?? 0) >= aliceMsg.seq, 5_000, "read receipt");
    // Each side holds each message exactly once (ack + echo deduped by id).
    expect(bodies(alice, dm.id)).toEqual(["hi bob", "hi alice"]);
    expect(bodies(bob, dm.id)).toEqual(["hi bob", "hi alice"]);
  });

  it("typing reaches the other member with expires_in_ms", async () => {
    const { alice, bob, dm } = await pair();
    await until(() => alice.transport.connected);
    alice.setTyping(dm.id, true);
    await until(() => bob.state.conversations[String(dm.id)].typing[String(alice.me!.id)] > Date.now(), 5_000, "typing");
  });

  it("after a disconnect, reconnect + sync fetches what was missed, without duplicates", async () => {
    const { alice, bob, dm } = await pair();
    await alice.sendMessage(dm.id, "before");
    await until(() => bodies(bob, dm.id).includes("before"));
    bob.disconnect();
    await until(() => bob.state.connection === "disconnected");
    for (const body of ["missed 1", "missed 2", "missed 3"]) await alice.sendMessage(dm.id, body);
    await until(() => alice.outbox.size === 0, 5_000, "alice acked");
    expect(bodies(bob, dm.id)).toEqual(["before"]);

    await connected(bob);
    await until(() => bodies(bob, dm.id).length === 4, 5_000, "sync after reconnect");
    expect(bodies(bob, dm.id)).toEqual(["before", "missed 1", "missed 2", "missed 3"]);
    const seqs = bob.state.conversations[String(dm.id)].messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(4);
  });

  it("a sync with a small limit loops while has_more", async () => {
    const alice = await registered("alice");
    const bob = await registered("bob", new MemoryStorage(), 2);
    open.push(alice, bob);
    await connected(alice);
    await connected(bob);
    const dm = await alice.startDirect(bob.me!.id);
    await until(() => bob.state.conversations[String(dm.id)]?.conversation, 5_000, "bob sees the DM");
    bob.disconnect();
    for (let i = 1; i <= 7; i++) await alice.sendMessage(dm.id, `m${i}`);
    await until(() => alice.outbox.size === 0, 10_000);
    const rounds: object[] = [];
    const request = bob.transport.request.bind(bob.transport);
    bob.transport.request = (event: string, payload: object, t?: number) => {
      if (event === "sync") rounds.push(payload);
      return request(event, payload, t);
    };
    await connected(bob);
    expect(bodies(bob, dm.id)).toEqual(["m1", "m2", "m3", "m4", "m5", "m6", "m7"]);
    expect(rounds.length).toBeGreaterThanOrEqual(4); // 7 messages, 2 per round trip
  });

  it("resending after a dropped ack creates exactly one message (same client_id)", async () => {
    const storage = new MemoryStorage();
    const alice = await registered("alice", storage);
    const bob = await registered("bob");
    open.push(alice, bob);
    await connected(bob);
    const dm = await alice.startDirect(bob.me!.id);
    // Alice writes while offline: the entry is persisted with its client_id.
    const entry = await alice.sendMessage(dm.id, "exactly once");
    expect(alice.outbox.list().map((e) => e.client_id)).toEqual([entry.client_id]);

    // That send reaches the server, which commits it, but the ack never reaches the app
    // (the app died first). A raw socket with her token plays that lost attempt.
    const raw = io(`${CHAT_URL}/chat`, { auth: { token: alice.token }, transports: ["websocket"], forceNew: true });
    const firstAck = await raw.timeout(5_000).emitWithAck("message:send", {
      conversation_id: dm.id,
      body: entry.body,
      client_id: entry.client_id,
    });
    raw.disconnect();
    expect(firstAck.ok).toBe(true);
    await until(() => bodies(bob, dm.id).includes("exactly once"), 5_000, "bob got the first attempt");

    // Restart from storage: the outbox resends with the SAME client_id.
    const restarted = makeClient(storage);
    open.push(restarted);
    await restarted.restore();
    type Internals = { sendOnce(e: OutboxEntry): Promise<Message> };
    const sent: string[] = [];
    const acked: Message[] = [];
    const realSend = (restarted as unknown as Internals).sendOnce.bind(restarted);
    (restarted as unknown as Internals).sendOnce = async (e) => {
      sent.push(e.client_id);
      const m = await realSend(e);
      acked.push(m);
      return m;
    };
    await connected(restarted);
    await until(() => restarted.outbox.size === 0, 10_000, "resend acknowledged");
    expect(sent).toEqual([entry.client_id]);
    expect(acked[0].id).toBe(firstAck.message.id); // the server answered with the original

    const page = await restarted.rest.messages(dm.id, { limit: 100 });
    expect(page.messages.filter((m) => m.client_id === entry.client_id)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(bodies(bob, dm.id).filter((b) => b === "exactly once")).toHaveLength(1);
    expect(bodies(restarted, dm.id).filter((b) => b === "exactly once")).toHaveLength(1);
  });

  it("a message queued while offline survives a 'reload' and is delivered once", async () => {
    const storage = new MemoryStorage();
    const alice = await registered("alice", storage);
    const bob = await registered("bob");
    open.push(alice, bob);
    await connected(bob);
    const dm = await alice.startDirect(bob.me!.id);
    await alice.sendMessage(dm.id, "queued offline"); // never connected: stays in the outbox
    expect(alice.outbox.size).toBe(1);

    const reloaded = makeClient(storage);
    open.push(reloaded);
    expect(await reloaded.restore()).toBe(true);
    expect(reloaded.outbox.size).toBe(1);
    await connected(reloaded);
    await until(() => reloaded.outbox.size === 0, 10_000, "flushed after reload");
    await until(() => bodies(bob, dm.id).includes("queued offline"), 5_000);
    const page = await bob.rest.messages(dm.id);
    expect(page.messages.filter((m) => m.body === "queued offline")).toHaveLength(1);
  });

  it("reverse pagination: before=<seq> pages back to the first message", async () => {
    const { alice, bob, dm } = await pair();
    for (let i = 1; i <= 60; i++) await alice.rest.sendMessage(dm.id, `h${i}`, `seed-${dm.id}-${i}`);
    // A fresh REST-only client for bob, so live events do not fill the history.
    const reader = makeClient();
    await reader.login(bob.me!.username, "password-123");
    await reader.openConversation(dm.id);
    const state = () => reader.state.conversations[String(dm.id)];
    expect(state().messages.map((m) => m.body).at(-1)).toBe("h60");
    expect(state().messages).toHaveLength(50);
    expect(state().has_older).toBe(true);
    expect(await reader.loadOlder(dm.id)).toBe(true);
    const seqs = state().messages.map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(state().has_older).toBe(false);
    expect(await reader.loadOlder(dm.id)).toBe(false);
  });

  it("works over HTTP long-polling alone (restrictive networks)", async () => {
    const polling = () =>
      new ChatClient({
        baseUrl: CHAT_URL,
        storage: new MemoryStorage(),
        io: io,
        transport: { transports: ["polling"], options: { upgrade: false } },
      });
    const alice = polling();
    const bob = polling();
    open.push(alice, bob);
    await alice.register(username("pola"), "password-123");
    await bob.register(username("polb"), "password-123");
    await connected(alice);
    await connected(bob);
    expect(alice.state.transport).toBe("polling");
    const dm = await alice.startDirect(bob.me!.id);
    await alice.sendMessage(dm.id, "via polling");
    await until(() => bodies(bob, dm.id).includes("via polling"), 5_000, "bob receives over polling");
    expect(bob.transport.transportName).toBe("polling");
  });

  it("logout revokes the token: REST answers unauthorized", async () => {
    const alice = await registered("alice");
    const token = alice.token!;
    await alice.logout();
    expect(alice.token).toBeNull();
    const res = await fetch(`${CHAT_URL}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe("unauthorized");
  });
});
