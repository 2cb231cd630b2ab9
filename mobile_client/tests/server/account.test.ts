import { afterEach, describe, expect, it } from "vitest";
import type { ChatClient } from "../../src/core/client";
import { highlightSegments } from "../../src/core/search";
import { connected, makeClient, registered, until, username } from "./helpers";

/**
 * Search and account and safety against the real server, through the core: what the PWA's
 * screens rely on, without a browser.
 */

const open: ChatClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

async function pair(prefix: string) {
  const a = await registered(`${prefix}a`);
  const b = await registered(`${prefix}b`);
  open.push(a, b);
  await connected(a);
  await connected(b);
  const dm = await a.startDirect(b.me!.id);
  await until(() => b.state.conversations[String(dm.id)]?.conversation, 10_000, "b sees the conversation");
  return { a, b, dm };
}

describe("search through the core", () => {
  it("pages newest first; the code-point highlights mark the right words after emoji", async () => {
    const { a, dm } = await pair("srch");
    const sent: string[] = ["🎉🎉 Café crème", "plain cafe", ...Array.from({ length: 22 }, (_, i) => `needle ${i}`)];
    for (const body of sent) await a.rest.sendMessage(dm.id, body, `${body}-${a.me!.id}`);

    const search = a.messageSearch(dm.id);
    await search.search("cafe");
    expect(search.state.results.map((r) => r.message.body)).toEqual(["plain cafe", "🎉🎉 Café crème"]);
    const marks = search.state.results.map((r) => highlightSegments(r.message.body, r.highlights).filter((s) => s.mark).map((s) => s.text));
    expect(marks).toEqual([["cafe"], ["Café"]]);

    await search.search("needle");
    expect(search.state.results).toHaveLength(20);
    expect(search.state.next_cursor).not.toBeNull();
    await search.more();
    expect(search.state.results).toHaveLength(22);
    expect(search.state.next_cursor).toBeNull();
    expect(search.state.results[0].message.body).toBe("needle 21");

    await search.search("x".repeat(201));
    expect(search.state.error?.code).toBe("validation_error");
  });
});

describe("account and safety through the core", () => {
  it("a rename reaches the other device live and keeps its held versions in step with the server", async () => {
    const { a, b, dm } = await pair("ren");
    await a.updateProfile("Renamed A");
    expect(a.state.me!.display_name).toBe("Renamed A");
    await until(() => b.state.users[String(a.me!.id)]?.display_name === "Renamed A", 10_000, "user:updated on b");
    const member = b.state.conversations[String(dm.id)].conversation!.members.find((u) => u.id === a.me!.id);
    expect(member?.display_name).toBe("Renamed A");
    // The event carried the conversation's new version: what b holds is what the server has.
    const fresh = await b.rest.getConversation(dm.id);
    await until(() => b.state.conversations[String(dm.id)].version === fresh.version, 5_000, "b's version follows");
  });

  it("a rename made while a device was away arrives with its catch-up", async () => {
    const { a, b, dm } = await pair("away");
    b.disconnect();
    await a.updateProfile("Later name");
    await connected(b);
    await until(() => b.state.users[String(a.me!.id)]?.display_name === "Later name", 10_000, "the rename after reconnecting");
    expect(b.state.conversations[String(dm.id)].conversation!.members.find((u) => u.id === a.me!.id)?.display_name).toBe("Later name");
  });

  it("a password change signs the account's other device out with the reason; this one stays", async () => {
    const name = username("pwd");
    const here = makeClient();
    const there = makeClient();
    open.push(here, there);
    await here.register(name, "password-123");
    await there.login(name, "password-123", "second phone");
    await connected(here);
    await connected(there);
    const reasons: (string | undefined)[] = [];
    there.onUnauthorized((r) => reasons.push(r));
    await expect(here.changePassword("wrong-password", "another-pass-1")).rejects.toMatchObject({ code: "forbidden" });
    await here.changePassword("password-123", "another-pass-1");
    await until(() => reasons.length > 0, 10_000, "session:revoked on the other device");
    expect(reasons).toEqual(["password_changed"]);
    expect(there.token).toBeNull();
    expect(here.token).not.toBeNull();
    expect((await here.devices()).map((d) => d.current)).toEqual([true]);
  });

  it("blocking: the blocked side's send fails as forbidden and stays failed; unblocking lets a retry through", async () => {
    const { a, b, dm } = await pair("blk");
    await a.block(b.me!);
    expect((await a.loadBlocks()).map((u) => u.id)).toEqual([b.me!.id]);
    const entry = await b.sendMessage(dm.id, "let me in");
    await until(() => b.outbox.get(entry.client_id)?.state === "failed", 10_000, "the refusal");
    expect(b.outbox.get(entry.client_id)?.error_code).toBe("forbidden");
    await a.unblock(b.me!);
    expect(a.isBlocked(b.me!.id)).toBe(false);
    await b.retrySend(entry.client_id);
    await until(() => a.state.conversations[String(dm.id)]?.messages.some((m) => m.body === "let me in"), 10_000, "the retried message");
  });

  it("a report answers an id; the export holds the messages sent; closing signs out and refuses the login", async () => {
    const { a, b, dm } = await pair("cls");
    const m = await a.rest.sendMessage(dm.id, "for the record", `rec-${a.me!.id}`);
    expect((await b.reportMessage(m.id, "just testing")).id).toBeGreaterThan(0);
    const data = (await a.exportData()) as { messages: { body: string }[] };
    expect(data.messages.map((x) => x.body)).toContain("for the record");
    const name = a.me!.username;
    await expect(a.closeAccount("wrong-password")).rejects.toMatchObject({ code: "forbidden" });
    await a.closeAccount("password-123");
    expect(a.token).toBeNull();
    await expect(makeClient().login(name, "password-123")).rejects.toMatchObject({ status: 401 });
    await until(() => b.state.users[String(m.sender_id)]?.display_name === "Deleted user", 10_000, "Deleted user on b");
  });
});
