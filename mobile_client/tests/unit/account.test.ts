import { describe, expect, it, vi } from "vitest";
import { isDeletedUser } from "../../src/core/account";
import { ChatClient } from "../../src/core/client";
import type { Action } from "../../src/core/events";
import { reduce } from "../../src/core/reducer";
import type { FetchLike } from "../../src/core/rest";
import { conversationTitle } from "../../src/core/selectors";
import { initialState, type ChatState } from "../../src/core/state";
import { MemoryStorage } from "../../src/core/storage";
import type { Conversation } from "../../src/core/types";
import { fakeIo, flush, user } from "./fakes";

const me = user(1, { display_name: "Me" });
const bob = user(2, { display_name: "Bob", online: true });
const carol = user(3, { display_name: "Carol" });

function conv(id: number, type: "direct" | "group", members = [me, bob]): Conversation {
  return {
    id,
    type,
    name: type === "group" ? `g${id}` : null,
    members,
    last_seq: 0,
    last_message: null,
    unread_count: 0,
    last_read_seq: 0,
    created_at: "2026-01-01T00:00:00.000Z",
    updated_at: "2026-01-01T00:00:00.000Z",
  };
}

function run(...actions: Action[]): ChatState {
  return actions.reduce(reduce, initialState());
}

const session: Action = { type: "session", me };
const loaded: Action = { type: "conversations:loaded", conversations: [conv(10, "direct"), conv(11, "group", [me, bob, carol]), conv(12, "group", [me, carol])] };
const renamed = (u = { ...bob, display_name: "Robert", online: false }): Action => ({ type: "user:updated", at: 0, payload: { user: u } });

describe("user:updated in the store", () => {
  it("renames the user in titles, bubbles' lookups and every member list holding them", () => {
    const s = run(session, loaded, renamed());
    expect(s.users["2"].display_name).toBe("Robert");
    expect(conversationTitle(s, s.conversations["10"])).toBe("Robert");
    expect(s.conversations["11"].conversation!.members.find((u) => u.id === 2)!.display_name).toBe("Robert");
    // A conversation without them is left as it was (same object: nothing re-renders).
    expect(run(session, loaded).conversations["12"].conversation!.members).toEqual(s.conversations["12"].conversation!.members);
  });

  it("is about the profile: live presence stays as it is", () => {
    const s = run(session, loaded, renamed());
    expect(s.users["2"].online).toBe(true);
    expect(s.conversations["10"].conversation!.members.find((u) => u.id === 2)!.online).toBe(true);
  });

  it("our own rename (from another device) changes `me` too", () => {
    const s = run(session, loaded, renamed({ ...me, display_name: "New me" }));
    expect(s.me!.display_name).toBe("New me");
    expect(s.users["1"].display_name).toBe("New me");
  });

  it("a closed account reads as Deleted user wherever it was shown", () => {
    const gone = { id: 2, username: "deleted-2", display_name: "Deleted user", online: false, last_seen_at: null };
    const s = run(session, loaded, renamed(gone));
    expect(conversationTitle(s, s.conversations["10"])).toBe("Deleted user");
    expect(isDeletedUser(s.users["2"])).toBe(true);
    expect(isDeletedUser(bob)).toBe(false);
  });

  it("moves each shared conversation's held version by the one its member entry took, never over a gap", () => {
    const held: Action = {
      type: "sync:applied",
      messages: [],
      changes: [],
      conversations: [{ ...conv(10, "direct"), version: 4 }, { ...conv(11, "group", [me, bob, carol]), version: 7 }],
      removed: [],
      cursors: { "10": 0, "11": 0 },
      versions: { "10": 4, "11": 7 },
    };
    const s = run(session, held, { type: "user:updated", at: 0, payload: { user: { ...bob, display_name: "Robert" }, versions: { "10": 5, "11": 9 } } });
    expect(s.conversations["10"].version).toBe(5);
    expect(s.conversations["11"].version).toBe(7); // 8 is missing: the next sync brings it
  });

  it("keeps a blocked user's entry current", () => {
    const s = run(session, loaded, { type: "blocks:loaded", users: [bob] }, renamed());
    expect(s.blocked["2"].display_name).toBe("Robert");
  });
});

describe("blocks in the store", () => {
  it("come from the server's list, follow blocks and unblocks made here, and go with a sign-out", () => {
    let s = run(session, { type: "blocks:loaded", users: [carol] });
    expect(Object.keys(s.blocked)).toEqual(["3"]);
    expect(s.blocks_loaded).toBe(true);
    s = reduce(s, { type: "block:set", user: bob, blocked: true });
    expect(Object.keys(s.blocked).sort()).toEqual(["2", "3"]);
    const again = reduce(s, { type: "block:set", user: bob, blocked: true });
    expect(again).toBe(s);
    s = reduce(s, { type: "block:set", user: carol, blocked: false });
    expect(Object.keys(s.blocked)).toEqual(["2"]);
    expect(reduce(s, { type: "reset" }).blocked).toEqual({});
  });
});

interface Call {
  method: string;
  path: string;
  body: unknown;
}

/** A fake server for the account calls: records them; `answers` by "METHOD /path". */
function server(answers: Record<string, { status: number; body?: unknown }> = {}) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const path = url.replace("http://srv/api/v1", "");
    calls.push({ method: init.method, path, body: init.body ? JSON.parse(init.body) : undefined });
    const key = `${init.method} ${path.split("?")[0]}`;
    let a = answers[key];
    if (!a && key === "POST /auth/login") a = { status: 200, body: { user: me, token: "tok" } };
    if (!a && path.startsWith("/conversations?")) a = { status: 200, body: { conversations: [], next_cursor: null } };
    a ??= { status: 204 };
    return { status: a.status, ok: a.status < 400, text: async () => (a.body === undefined ? "" : JSON.stringify(a.body)) };
  };
  return { calls, fetch };
}

async function signedIn(answers: Record<string, { status: number; body?: unknown }> = {}) {
  const srv = server(answers);
  const io = fakeIo();
  const storage = new MemoryStorage();
  const client = new ChatClient({ baseUrl: "http://srv", storage, fetch: srv.fetch, io: io.factory });
  await client.login("me", "password1");
  client.connect();
  return { client, socket: io.made[0], storage, calls: srv.calls };
}

const forbidden = { status: 403, body: { error: { code: "forbidden", message: "wrong password" } } };

describe("account calls", () => {
  it("PATCH /me applies the new name at once and keeps it in the saved session", async () => {
    const { client, storage, calls } = await signedIn({ "PATCH /me": { status: 200, body: { user: { ...me, display_name: "Renamed" } } } });
    await client.updateProfile("  Renamed ");
    expect(calls.at(-1)).toEqual({ method: "PATCH", path: "/me", body: { display_name: "Renamed" } });
    expect(client.state.me!.display_name).toBe("Renamed");
    await flush();
    expect(JSON.parse((await storage.getItem("chat.session"))!).user.display_name).toBe("Renamed");
  });

  it("a password change sends both passwords; a wrong current one is forbidden and keeps us signed in", async () => {
    const ok = await signedIn();
    await ok.client.changePassword("old-password", "new-password");
    expect(ok.calls.at(-1)).toEqual({ method: "POST", path: "/auth/password", body: { current_password: "old-password", new_password: "new-password" } });
    const wrong = await signedIn({ "POST /auth/password": forbidden });
    await expect(wrong.client.changePassword("nope", "new-password")).rejects.toMatchObject({ code: "forbidden", status: 403 });
    expect(wrong.client.token).toBe("tok");
  });

  it("closing the account: a wrong password keeps everything; the right one forgets the session here", async () => {
    const wrong = await signedIn({ "DELETE /me": forbidden });
    await expect(wrong.client.closeAccount("nope")).rejects.toMatchObject({ code: "forbidden" });
    expect(wrong.client.token).toBe("tok");

    const { client, socket, storage, calls } = await signedIn();
    const told = vi.fn();
    client.onUnauthorized(told);
    await client.closeAccount("password1");
    expect(calls.at(-1)).toEqual({ method: "DELETE", path: "/me", body: { password: "password1" } });
    expect(client.token).toBeNull();
    expect(await storage.getItem("chat.session")).toBeNull();
    // The server's own session:revoked for the closing device is expected, not a surprise sign-out.
    socket.fire("session:revoked", { reason: "account_closed" });
    await flush();
    expect(told).not.toHaveBeenCalled();
  });

  it("devices, blocks, reports and the export call their endpoints", async () => {
    const { client, calls } = await signedIn({
      "GET /auth/tokens": { status: 200, body: { tokens: [{ id: 5, device_name: "web", created_at: "x", last_used_at: null, current: true }] } },
      "GET /me/blocks": { status: 200, body: { users: [carol] } },
      "POST /messages/9/report": { status: 201, body: { report: { id: 77 } } },
      "GET /me/export": { status: 200, body: { user: { id: 1 }, messages: [] } },
    });
    expect((await client.devices())[0].current).toBe(true);
    await client.revokeDevice(6);
    await client.block(bob);
    expect(client.isBlocked(2)).toBe(true);
    await client.unblock(bob);
    expect(client.isBlocked(2)).toBe(false);
    await client.loadBlocks();
    expect(client.isBlocked(3)).toBe(true);
    expect(await client.reportMessage(9, "  spam  ")).toEqual({ id: 77 });
    expect(await client.exportData()).toEqual({ user: { id: 1 }, messages: [] });
    expect(calls.slice(1).map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /auth/tokens",
      "DELETE /auth/tokens/6",
      "POST /users/2/block",
      "DELETE /users/2/block",
      "GET /me/blocks",
      "POST /messages/9/report",
      "GET /me/export",
    ]);
    expect(calls.find((c) => c.path === "/messages/9/report")!.body).toEqual({ reason: "spam" });
  });

  it("a server without blocks (404) leaves the list empty and raises nothing", async () => {
    const { client } = await signedIn({ "GET /me/blocks": { status: 404, body: { error: { code: "not_found", message: "no" } } } });
    const errors = vi.fn();
    client.onError(errors);
    expect(await client.loadBlocks()).toEqual([]);
    expect(errors).not.toHaveBeenCalled();
  });
});

describe("session:revoked", () => {
  it("signs this device out at once and says why (a password change elsewhere)", async () => {
    const { client, socket, storage } = await signedIn();
    const told = vi.fn();
    client.onUnauthorized(told);
    socket.fire("session:revoked", { reason: "password_changed" });
    await vi.waitFor(() => expect(told).toHaveBeenCalledWith("password_changed"));
    expect(told).toHaveBeenCalledOnce();
    expect(client.token).toBeNull();
    expect(await storage.getItem("chat.session")).toBeNull();
    // The refused reconnect that may follow does not sign out a second time.
    socket.fire("connect_error", Object.assign(new Error("refused"), { data: { code: "unauthorized" } }));
    await flush();
    expect(told).toHaveBeenCalledOnce();
  });

  it("the revocation of our own sign-out is expected", async () => {
    const { client, socket } = await signedIn();
    const told = vi.fn();
    client.onUnauthorized(told);
    const out = client.logout();
    socket.fire("session:revoked", { reason: "logout" });
    await out;
    await flush();
    expect(told).not.toHaveBeenCalled();
    expect(client.token).toBeNull();
  });
});

describe("a refused send", () => {
  it("is failed with its code (forbidden: blocked), not retried", async () => {
    const { client, socket } = await signedIn();
    socket.open();
    socket.responders["message:send"] = () => ({ ok: false, error: { code: "forbidden", message: "blocked" } });
    socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
    await client.sendMessage(10, "hello?");
    await vi.waitFor(() => expect(client.outbox.list()[0]?.state).toBe("failed"));
    expect(client.outbox.list()[0]).toMatchObject({ error_code: "forbidden", error: "blocked" });
    await new Promise((r) => setTimeout(r, 20));
    expect(socket.sent("message:send")).toHaveLength(1);
  });
});
