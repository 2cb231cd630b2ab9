import { describe, expect, it } from "vitest";
import { ChatError } from "../../src/core/errors";
import { Outbox, type OutboxEntry } from "../../src/core/outbox";
import { MemoryStorage } from "../../src/core/storage";
import { msg } from "./fakes";

let n = 0;
const ids = () => `cid-${++n}`;

describe("Outbox", () => {
  it("persists an entry before enqueue resolves, and a new instance reloads it", async () => {
    const storage = new MemoryStorage();
    const a = new Outbox(storage, "k", ids);
    const e = await a.enqueue(7, "hello");
    const b = new Outbox(storage, "k", ids);
    await b.load();
    expect(b.list()).toEqual([e]);
    expect(b.list(7)[0].body).toBe("hello");
    expect(b.list(8)).toEqual([]);
  });

  it("resends with the same client_id after a transient failure, until acknowledged", async () => {
    const box = new Outbox(new MemoryStorage(), "k", ids);
    const e = await box.enqueue(1, "hi");
    const seen: string[] = [];
    let fail = true;
    const send = async (entry: OutboxEntry) => {
      seen.push(entry.client_id);
      if (fail) throw new ChatError("timeout", "lost ack");
      return msg(10, 1, { client_id: entry.client_id });
    };
    await expect(box.flush(send)).rejects.toThrow("lost ack");
    expect(box.size).toBe(1);
    fail = false;
    await box.flush(send);
    expect(seen).toEqual([e.client_id, e.client_id]);
    expect(box.size).toBe(0);
  });

  it("sends entries in order and stops at the first transient failure", async () => {
    const box = new Outbox(new MemoryStorage(), "k", ids);
    const a = await box.enqueue(1, "a");
    await box.enqueue(1, "b");
    const order: string[] = [];
    await expect(
      box.flush(async (e) => {
        order.push(e.body);
        throw new ChatError("disconnected", "offline");
      }),
    ).rejects.toThrow();
    expect(order).toEqual(["a"]);
    expect(box.list().map((e) => e.client_id)[0]).toBe(a.client_id);
  });

  it("marks a permanently refused entry failed and continues with the next", async () => {
    const box = new Outbox(new MemoryStorage(), "k", ids);
    const bad = await box.enqueue(1, "bad");
    await box.enqueue(1, "good");
    await box.flush(async (e) => {
      if (e.body === "bad") throw new ChatError("forbidden", "no posting");
      return msg(11, 2);
    });
    expect(box.list()).toHaveLength(1);
    expect(box.list()[0]).toMatchObject({ client_id: bad.client_id, state: "failed", error: "no posting" });
    await box.retry(bad.client_id);
    expect(box.list()[0].state).toBe("queued");
  });

  it("acknowledge() removes by client_id (echo or sync carrying our client_id)", async () => {
    const storage = new MemoryStorage();
    const box = new Outbox(storage, "k", ids);
    const e = await box.enqueue(1, "x");
    expect(await box.acknowledge(e.client_id)).toBe(true);
    expect(await box.acknowledge(e.client_id)).toBe(false);
    expect(JSON.parse((await storage.getItem("k")) as string)).toEqual([]);
  });

  it("concurrent flushes share one run: an entry is never sent twice at once", async () => {
    const box = new Outbox(new MemoryStorage(), "k", ids);
    await box.enqueue(1, "once");
    let calls = 0;
    const send = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      return msg(1, 1);
    };
    await Promise.all([box.flush(send), box.flush(send)]);
    expect(calls).toBe(1);
  });

  it("treats corrupt stored data as empty instead of crashing", async () => {
    const storage = new MemoryStorage();
    await storage.setItem("k", "{not json");
    const box = new Outbox(storage, "k", ids);
    await box.load();
    expect(box.size).toBe(0);
  });
});
