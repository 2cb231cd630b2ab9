import { afterEach, describe, expect, it } from "vitest";
import { io } from "socket.io-client";
import { ChatClient } from "../../src/core/client";
import type { FetchLike } from "../../src/core/rest";
import { sortedConversations } from "../../src/core/selectors";
import { MemoryStorage } from "../../src/core/storage";
import type { Conversation, Message } from "../../src/core/types";
import { CHAT_URL, connected, registered, until } from "./helpers";

/**
 * Catch-up with versions against the real server: a device that was away across every kind
 * of change, restarted from its cache, ends equal to a fresh fetch after one round of sync
 * (paged: limit 2).
 */

const open: ChatClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

/** A device restarted from `storage`, recording its REST calls and sync round trips in order. */
function restartedDevice(storage: MemoryStorage, transports?: string[]) {
  const log: string[] = [];
  const fetchImpl: FetchLike = (url, init) => {
    log.push(`${init.method} ${url.replace(`${CHAT_URL}/api/v1`, "").replace(/\?.*/, "")}`);
    return (globalThis.fetch as unknown as FetchLike)(url, init);
  };
  const client = new ChatClient({
    baseUrl: CHAT_URL,
    storage,
    fetch: fetchImpl,
    syncLimit: 2,
    io: io,
    transport: { ackTimeoutMs: 5_000, ...(transports ? { transports } : {}), options: { reconnectionDelay: 100, reconnectionDelayMax: 500 } },
  });
  const request = client.transport.request.bind(client.transport);
  client.transport.request = (event: string, payload: object, t?: number) => {
    if (event === "sync") log.push(`sync ${JSON.stringify(payload)}`);
    return request(event, payload, t);
  };
  open.push(client);
  return { client, log };
}

/** What a fresh fetch says: the list, and each held message as the server has it now. */
async function freshView(reader: ChatClient, heldIds: Record<string, number[]>) {
  const { conversations } = await reader.rest.listConversations(null);
  const list = conversations
    .map((c: Conversation) => ({ id: c.id, name: c.name, members: c.members.map((u) => u.id).sort(), last_seq: c.last_seq, version: c.version }))
    .sort((a, b) => a.id - b.id);
  const messages: Record<string, Partial<Message>[]> = {};
  for (const [cid, ids] of Object.entries(heldIds)) {
    const page = await reader.rest.messages(Number(cid), { after: 0, limit: 100 });
    messages[cid] = page.messages.filter((m) => ids.includes(m.id)).map(shape);
  }
  return { list, messages };
}

/** The device's state in the same shape; `version` is the held one (what the next sync sends). */
function deviceView(c: ChatClient) {
  const list = sortedConversations(c.state)
    .map((s) => ({ ...s.conversation!, version: s.version ?? undefined }))
    .map((c) => ({ id: c.id, name: c.name, members: c.members.map((u) => u.id).sort(), last_seq: c.last_seq, version: c.version }))
    .sort((a, b) => a.id - b.id);
  const messages: Record<string, Partial<Message>[]> = {};
  const heldIds: Record<string, number[]> = {};
  for (const s of Object.values(c.state.conversations)) {
    if (!s.messages.length) continue;
    messages[String(s.id)] = s.messages.map(shape);
    heldIds[String(s.id)] = s.messages.map((m) => m.id);
  }
  return { list, messages, heldIds };
}

const shape = (m: Message) => ({ id: m.id, seq: m.seq, body: m.body, deleted: m.deleted, edited_at: m.edited_at, reactions: m.reactions, version: m.version });

describe.skipIf(!CHAT_URL)(`catch-up with versions against ${CHAT_URL || "(set CHAT_URL)"}`, () => {
  for (const transports of [undefined, ["websocket"]]) {
    it(`a device away across edit, delete, react, read, rename, removal and additions equals a fresh fetch after catch-up (${transports ? "websocket only" : "default transports"})`, async () => {
      const alice = await registered("alice");
      const storage = new MemoryStorage();
      const bob = await registered("bob", storage, 2);
      open.push(alice, bob);
      await connected(alice);
      await connected(bob);
      const team = await alice.createGroup("Team", [bob.me!.id]);
      const leaving = await alice.createGroup("Leaving", [bob.me!.id]);
      await until(() => bob.state.conversations[String(leaving.id)]?.conversation, 5_000, "bob sees both groups");
      for (const body of ["m1", "m2", "m3", "m4"]) await alice.sendMessage(team.id, body);
      await until(() => bob.state.conversations[String(team.id)]?.messages.length === 4, 5_000, "bob holds m1-m4");
      await until(() => bob.state.conversations[String(team.id)].version !== null, 5_000, "bob holds a version");
      await bob.cacheIdle();
      bob.disconnect();
      const held = bob.state.conversations[String(team.id)].messages;

      // While Bob's phone is off: every kind of change.
      await alice.rest.editMessage(held[0].id, "m1 edited");
      await alice.rest.deleteMessage(held[1].id);
      await alice.rest.react(held[2].id, "🎉");
      await alice.rest.updateConversation(team.id, { name: "Team renamed" });
      for (const body of ["m5", "m6", "m7"]) await alice.rest.sendMessage(team.id, body, `${team.id}-${body}`);
      await alice.rest.markRead(team.id, 7);
      await alice.rest.removeMember(leaving.id, bob.me!.id);
      const added = await alice.createGroup("Added while away", [bob.me!.id]);
      const later = await alice.createGroup("Added later", []);
      await alice.rest.addMember(later.id, bob.me!.id);
      await alice.rest.sendMessage(later.id, "hello later", `${later.id}-hello`);

      // Restart from the cache: the list is there before any network answer.
      const { client: again, log } = restartedDevice(storage, transports);
      expect(await again.restore()).toBe(true);
      expect(log).toEqual([]);
      expect(again.state.conversations[String(team.id)].messages.map((m) => m.body)).toEqual(["m1", "m2", "m3", "m4"]);
      expect(again.state.conversations[String(leaving.id)]).toBeDefined();

      await connected(again);
      // One round of sync, paged (limit 2: 3 changes + 3 messages need several pages), and
      // no REST list before it: the catch-up is sync alone.
      const syncs = log.filter((l) => l.startsWith("sync "));
      expect(syncs.length).toBeGreaterThanOrEqual(3);
      const lastSync = log.lastIndexOf(syncs[syncs.length - 1]);
      expect(log.slice(0, lastSync).filter((l) => !l.startsWith("sync "))).toEqual([]);
      expect(JSON.parse(syncs[0].slice(5))).toMatchObject({ versions: expect.any(Object), limit: 2 });

      const team2 = again.state.conversations[String(team.id)];
      expect(team2.conversation?.name).toBe("Team renamed");
      expect(team2.messages.map((m) => (m.deleted ? "(deleted)" : m.body))).toEqual(["m1 edited", "(deleted)", "m3", "m4", "m5", "m6", "m7"]);
      expect(team2.messages[2].reactions).toEqual({ "🎉": [alice.me!.id] });
      expect(team2.read_by[String(alice.me!.id)]).toBeGreaterThanOrEqual(7);
      expect(again.state.conversations[String(leaving.id)]).toBeUndefined();
      expect(again.state.conversations[String(added.id)]?.conversation?.name).toBe("Added while away");
      expect(again.state.conversations[String(later.id)]?.conversation?.name).toBe("Added later");

      // The rule a client relies on: equal to a fresh fetch. (The device's own delivered
      // receipts raise versions after the catch-up; their live events carry it along, so
      // compare once it has heard them.)
      let mine = deviceView(again);
      let fresh = await freshView(again, mine.heldIds);
      for (let i = 0; i < 40 && JSON.stringify(mine) !== JSON.stringify({ ...fresh, heldIds: mine.heldIds }); i++) {
        await new Promise((r) => setTimeout(r, 100));
        mine = deviceView(again);
        fresh = await freshView(again, mine.heldIds);
      }
      expect(mine.list).toEqual(fresh.list);
      expect(mine.messages).toEqual(fresh.messages);

      // And the caught-up cursors and versions are what the cache keeps for next time.
      again.disconnect(); // nothing moves any more
      await again.cacheIdle();
      const now = again.state.conversations[String(team.id)];
      const third = restartedDevice(storage, transports).client;
      await third.restore();
      expect(third.state.conversations[String(team.id)]).toMatchObject({ cursor: now.cursor, version: now.version });
      expect(now.version).toBe(fresh.list.find((c) => c.id === team.id)!.version);
    });
  }

  it("live events keep the held version in step, so a reconnect with nothing missed syncs nothing", async () => {
    const alice = await registered("alice");
    const bob = await registered("bob", new MemoryStorage(), 2);
    open.push(alice, bob);
    await connected(alice);
    await connected(bob);
    const dm = await alice.startDirect(bob.me!.id);
    await until(() => bob.state.conversations[String(dm.id)]?.version != null, 5_000, "bob holds a version");
    await alice.sendMessage(dm.id, "one");
    await until(() => bob.state.conversations[String(dm.id)].messages.length === 1, 5_000, "live message");
    const server = (await bob.rest.getConversation(dm.id)).version;
    await until(() => bob.state.conversations[String(dm.id)].version === server, 5_000, "version advanced by live events");
  });
});
