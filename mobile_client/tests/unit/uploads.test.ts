import "fake-indexeddb/auto";
import { openDB } from "idb";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { attachmentsOf, fitBox, formatSize, isImage, type Attachment } from "../../src/core/attachments";
import { ChatClient } from "../../src/core/client";
import { ChatError } from "../../src/core/errors";
import type { FetchLike } from "../../src/core/rest";
import { MemoryStorage } from "../../src/core/storage";
import { fetchUploader, MemoryFileStore, parseUploadAnswer, type LocalFile, type UploadRequest } from "../../src/core/uploads";
import { openWebStore } from "../../src/platform/idbCache";
import { fakeIo, msg, user, type FakeSocket } from "./fakes";

const me = user(1);

function attachment(id: number, extra: Partial<Attachment> = {}): Attachment {
  return {
    id,
    name: `photo-${id}.jpg`,
    content_type: "image/jpeg",
    size: 1000,
    width: 800,
    height: 600,
    url: `/api/v1/uploads/${id}/file/photo-${id}.jpg`,
    thumbnail_url: `/api/v1/uploads/${id}/thumbnail`,
    ...extra,
  };
}

const file = (name: string, size = 1000): LocalFile => ({ data: { bytes: name }, name, type: "image/jpeg", size, width: 800, height: 600 });

/** An uploader the test answers by hand: each call waits until resolved or rejected. */
function manualUploader() {
  const calls: { req: UploadRequest; resolve: (a: Attachment) => void; reject: (e: unknown) => void; aborted: boolean }[] = [];
  const upload = (req: UploadRequest) =>
    new Promise<Attachment>((resolve, reject) => {
      const call = { req, resolve, reject, aborted: false };
      req.signal.onCancel(() => {
        call.aborted = true;
        reject(new ChatError("cancelled", "Upload cancelled"));
      });
      calls.push(call);
    });
  return { upload, calls };
}

const noRest: FetchLike = async (url) => {
  const body = url.endsWith("/auth/login") ? { user: me, token: "tok" } : { conversations: [], next_cursor: null };
  return { status: 200, ok: true, text: async () => JSON.stringify(body) };
};

let ids = 0;
async function setup(opts: { storage?: MemoryStorage; files?: MemoryFileStore; uploader?: ReturnType<typeof manualUploader>; connect?: boolean } = {}) {
  const storage = opts.storage ?? new MemoryStorage();
  const files = opts.files ?? new MemoryFileStore();
  const uploader = opts.uploader ?? manualUploader();
  const io = fakeIo();
  const client = new ChatClient({ baseUrl: "http://srv", storage, files, upload: uploader.upload, fetch: noRest, io: io.factory, newId: () => `id-${++ids}` });
  if (!(await client.restore())) await client.login("me", "password1");
  client.connect();
  const socket: FakeSocket = io.made[0];
  socket.responders.sync = () => ({ ok: true, messages: [], has_more: false });
  let seq = 10;
  socket.responders["message:send"] = (p) => ({
    ok: true,
    message: { ...msg(100 + seq, ++seq, { sender_id: 1, client_id: p.client_id, body: p.body }), attachments: (p.attachments ?? []).map((id: number) => attachment(id)) },
  });
  if (opts.connect !== false) {
    socket.open();
    socket.fire("ready", { user: me, conversations: [{ id: 1, last_seq: 10, last_read_seq: 10, unread_count: 0 }], total_unread: 0 });
  }
  return { client, socket, storage, files, uploader };
}

beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
afterEach(() => vi.useRealTimers());

describe("a message with attachments waits in the outbox for its uploads", () => {
  it("keeps the bytes, uploads each file in turn with progress, then sends once with the upload ids (no caption needed)", async () => {
    const { client, socket, files, uploader } = await setup();
    const entry = await client.sendMessage(1, "", { files: [file("a.jpg"), file("b.jpg", 2000)] });
    const keys = entry.attachments!.map((a) => a.key);
    expect(entry.attachments).toMatchObject([{ name: "a.jpg", size: 1000, width: 800, height: 600 }, { name: "b.jpg", size: 2000 }]);
    expect(await files.keys()).toEqual(keys);
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1)); // one at a time
    expect(uploader.calls[0].req).toMatchObject({ url: "http://srv/api/v1/uploads", token: "tok", file: { name: "a.jpg" } });
    uploader.calls[0].req.onProgress(400, 1000);
    expect(client.uploads.progress(keys[0])).toEqual({ loaded: 400, total: 1000 });
    expect(socket.sent("message:send")).toHaveLength(0);

    uploader.calls[0].resolve(attachment(7));
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(2));
    expect(client.outbox.get(entry.client_id)?.attachments?.[0].upload?.id).toBe(7); // recorded: never uploaded again
    expect(socket.sent("message:send")).toHaveLength(0); // still waiting for b.jpg
    uploader.calls[1].resolve(attachment(8));
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
    expect(socket.sent("message:send")[0].payload).toEqual({ conversation_id: 1, body: "", client_id: entry.client_id, attachments: [7, 8] });
    await vi.waitFor(() => expect(client.outbox.size).toBe(0));
    expect(attachmentsOf(client.state.conversations["1"].messages[0]).map((a) => a.id)).toEqual([7, 8]);
    await vi.waitFor(async () => expect(await files.keys()).toEqual([])); // acknowledged: the bytes go
  });

  it("a text written after a photo is not held back by its upload", async () => {
    const { client, socket, uploader } = await setup();
    const photo = await client.sendMessage(1, "look", { files: [file("a.jpg")] });
    const text = await client.sendMessage(1, "and hello");
    await vi.waitFor(() => expect(socket.sent("message:send").map((e) => e.payload.client_id)).toEqual([text.client_id]));
    uploader.calls[0].resolve(attachment(9));
    await vi.waitFor(() => expect(socket.sent("message:send").map((e) => e.payload.client_id)).toEqual([text.client_id, photo.client_id]));
  });

  it("offline: the upload fails, is retried with backoff, and the message is sent exactly once", async () => {
    const { client, socket, uploader } = await setup();
    const entry = await client.sendMessage(1, "caption", { files: [file("a.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    uploader.calls[0].reject(new ChatError("network", "offline"));
    await vi.advanceTimersByTimeAsync(100);
    expect(client.outbox.get(entry.client_id)?.state).toBe("queued");
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(2));
    uploader.calls[1].resolve(attachment(3));
    await vi.waitFor(() => expect(client.outbox.size).toBe(0));
    expect(socket.sent("message:send")).toHaveLength(1);
    expect(socket.sent("message:send")[0].payload).toMatchObject({ body: "caption", client_id: entry.client_id, attachments: [3] });
  });

  it("survives a restart between two uploads: only the missing one is uploaded, the message goes once", async () => {
    const storage = new MemoryStorage();
    const files = new MemoryFileStore();
    const first = await setup({ storage, files });
    const entry = await first.client.sendMessage(1, "two photos", { files: [file("a.jpg"), file("b.jpg")] });
    await vi.waitFor(() => expect(first.uploader.calls).toHaveLength(1));
    first.uploader.calls[0].resolve(attachment(21));
    await vi.waitFor(() => expect(first.uploader.calls).toHaveLength(2));
    first.client.disconnect(); // the app is killed mid-upload
    first.client.uploads.stop();

    const again = await setup({ storage, files });
    await vi.waitFor(() => expect(again.uploader.calls).toHaveLength(1));
    expect(again.uploader.calls[0].req.file.name).toBe("b.jpg");
    again.uploader.calls[0].resolve(attachment(22));
    await vi.waitFor(() => expect(again.socket.sent("message:send")).toHaveLength(1));
    expect(again.socket.sent("message:send")[0].payload).toMatchObject({ client_id: entry.client_id, attachments: [21, 22] });
  });

  it("a refused file (413) fails the message; removing it and Retry sends the rest", async () => {
    const { client, socket, uploader } = await setup();
    const entry = await client.sendMessage(1, "", { files: [file("huge.mov", 99e6), file("ok.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    uploader.calls[0].reject(new ChatError("payload_too_large", "too large", 413));
    await vi.waitFor(() => expect(client.outbox.get(entry.client_id)?.state).toBe("failed"));
    const failed = client.outbox.get(entry.client_id)!;
    expect(failed.error).toBe("The file is too large to send");
    expect(failed.attachments![0].error).toBe("The file is too large to send");
    expect(uploader.calls).toHaveLength(1); // nothing more until the user decides

    await client.cancelUpload(entry.client_id, failed.attachments![0].key);
    await client.retrySend(entry.client_id);
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(2));
    expect(uploader.calls[1].req.file.name).toBe("ok.jpg");
    uploader.calls[1].resolve(attachment(5));
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
    expect(socket.sent("message:send")[0].payload.attachments).toEqual([5]);
  });

  it("cancel aborts the upload in flight; a captionless message left with nothing is discarded and its bytes deleted", async () => {
    const { client, socket, files, uploader } = await setup();
    const entry = await client.sendMessage(1, "", { files: [file("a.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    await client.cancelUpload(entry.client_id, entry.attachments![0].key);
    expect(uploader.calls[0].aborted).toBe(true);
    expect(client.outbox.size).toBe(0);
    await vi.waitFor(async () => expect(await files.keys()).toEqual([]));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(socket.sent("message:send")).toHaveLength(0);
  });

  it("cancelling one photo of a captioned message sends the caption with the others", async () => {
    const { client, socket, uploader } = await setup();
    const entry = await client.sendMessage(1, "trip", { files: [file("a.jpg"), file("b.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    await client.cancelUpload(entry.client_id, entry.attachments![0].key);
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(2));
    expect(uploader.calls[1].req.file.name).toBe("b.jpg");
    uploader.calls[1].resolve(attachment(12));
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
    expect(socket.sent("message:send")[0].payload).toMatchObject({ body: "trip", attachments: [12] });
  });

  it("uploads run while the socket is down (REST only needs the network); the send waits for the socket", async () => {
    const { client, socket, uploader } = await setup({ connect: false });
    await client.sendMessage(1, "", { files: [file("a.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    uploader.calls[0].resolve(attachment(31));
    await vi.advanceTimersByTimeAsync(100);
    expect(socket.sent("message:send")).toHaveLength(0);
    socket.open();
    socket.fire("ready", { user: me, conversations: [], total_unread: 0 });
    await vi.waitFor(() => expect(socket.sent("message:send")).toHaveLength(1));
  });

  it("an upload the server purged (never attached for 24 h) is uploaded again once, same client_id", async () => {
    const { client, socket, uploader } = await setup();
    let refusals = 0;
    const accept = socket.responders["message:send"];
    socket.responders["message:send"] = (p) =>
      p.attachments[0] === 41 && ++refusals
        ? { ok: false, error: { code: "validation_error", message: "no such upload", fields: { attachments: "no such upload" } } }
        : accept(p);
    const entry = await client.sendMessage(1, "late", { files: [file("a.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    uploader.calls[0].resolve(attachment(41));
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(2)); // at once, no timer needed
    uploader.calls[1].resolve(attachment(42));
    await vi.waitFor(() => expect(client.outbox.size).toBe(0));
    expect(socket.sent("message:send").map((e) => [e.payload.client_id, e.payload.attachments])).toEqual([
      [entry.client_id, [41]],
      [entry.client_id, [42]],
    ]);
  });

  it("refuses more than 10 files, and an empty message without files", async () => {
    const { client } = await setup();
    await expect(client.sendMessage(1, "x", { files: Array.from({ length: 11 }, (_, i) => file(`${i}.jpg`)) })).rejects.toMatchObject({ code: "validation_error" });
    await expect(client.sendMessage(1, "  ", { files: [] })).rejects.toMatchObject({ code: "validation_error" });
    expect(client.outbox.size).toBe(0);
  });

  it("at start, bytes no outbox entry names (killed between the two writes) are deleted", async () => {
    const storage = new MemoryStorage();
    const files = new MemoryFileStore();
    await setup({ storage, files });
    await files.put("orphan", file("lost.jpg"));
    await setup({ storage, files, connect: false });
    await vi.waitFor(async () => expect(await files.keys()).toEqual([]));
  });

  it("sign-out stops uploads and forgets the pending files", async () => {
    const { client, files, uploader } = await setup();
    await client.sendMessage(1, "bye", { files: [file("a.jpg")] });
    await vi.waitFor(() => expect(uploader.calls).toHaveLength(1));
    await client.logout();
    expect(uploader.calls[0].aborted).toBe(true);
    await vi.waitFor(async () => expect(await files.keys()).toEqual([]));
  });
});

describe("upload answers and the default uploader", () => {
  it("parses 201 {upload}; maps 413 (with or without the envelope) and other errors to ChatError", () => {
    expect(parseUploadAnswer(201, JSON.stringify({ upload: attachment(1) })).id).toBe(1);
    expect(() => parseUploadAnswer(413, "<html>Request Entity Too Large</html>")).toThrow(expect.objectContaining({ code: "payload_too_large" }));
    expect(() => parseUploadAnswer(413, JSON.stringify({ error: { code: "payload_too_large", message: "over 25 MiB" } }))).toThrow("over 25 MiB");
    const e = (() => {
      try {
        parseUploadAnswer(503, "");
      } catch (err) {
        return err as ChatError;
      }
    })()!;
    expect(e.code).toBe("internal");
    expect(() => parseUploadAnswer(400, JSON.stringify({ error: { code: "validation_error", message: "no file", fields: { file: "required" } } }))).toThrow(
      expect.objectContaining({ code: "validation_error", fields: { file: "required" } }),
    );
  });

  it("fetchUploader posts multipart with the file in the field `file` and the bearer token", async () => {
    const seen: { url: string; headers: Record<string, string>; body: FormData }[] = [];
    const fetchForm = async (url: string, init: { method: string; headers: Record<string, string>; body: unknown }) => {
      seen.push({ url, headers: init.headers, body: init.body as FormData });
      return { status: 201, ok: true, text: async () => JSON.stringify({ upload: attachment(2) }) };
    };
    const progress: number[] = [];
    const up = await fetchUploader(fetchForm)({
      url: "http://srv/api/v1/uploads",
      token: "tok",
      file: { data: new Blob(["hello"], { type: "text/plain" }), name: "hello.txt", type: "text/plain", size: 5 },
      onProgress: (loaded) => progress.push(loaded),
      signal: { cancelled: false, onCancel: () => undefined },
    });
    expect(up.id).toBe(2);
    expect(seen[0].headers.Authorization).toBe("Bearer tok");
    const sent = seen[0].body.get("file") as File;
    expect(sent.name).toBe("hello.txt");
    expect(await sent.text()).toBe("hello");
    expect(progress).toEqual([0, 5]);
  });
});

describe("attachment helpers", () => {
  it("formats sizes, fits boxes by aspect ratio, and tells images from files", () => {
    expect(formatSize(1)).toBe("1 byte");
    expect(formatSize(1023)).toBe("1023 bytes");
    expect(formatSize(1536)).toBe("1.5 KB");
    expect(formatSize(25 * 1024 * 1024)).toBe("25 MB");
    expect(fitBox(4000, 3000, 240)).toEqual({ width: 240, height: 180 });
    expect(fitBox(1000, 4000, 240)).toEqual({ width: 60, height: 240 });
    expect(fitBox(100, 50, 240)).toEqual({ width: 100, height: 50 }); // never scaled up
    expect(isImage(attachment(1))).toBe(true);
    expect(isImage(attachment(1, { thumbnail_url: null, width: null, height: null, content_type: "application/pdf" }))).toBe(false);
    expect(attachmentsOf(msg(1, 1))).toEqual([]);
  });
});

describe("the web's FileStore (IndexedDB, fake-indexeddb here)", () => {
  it("keeps a Blob and its description across a reopen, and upgrades a version 1 database in place", async () => {
    const name = `files-${Math.random()}`;
    // A database written by the previous version (no `files` store), with a session in it.
    const v1 = await openDB(name, 1, {
      upgrade(db) {
        db.createObjectStore("conversations", { keyPath: "id" });
        db.createObjectStore("meta");
        db.createObjectStore("kv");
      },
    });
    await v1.put("kv", '{"token":"kept"}', "chat.session");
    v1.close();

    const web = await openWebStore(name);
    expect(await web.storage.getItem("chat.session")).toBe('{"token":"kept"}');
    await web.files.put("k1", { data: new Blob(["jpeg bytes"], { type: "image/jpeg" }), name: "a.jpg", type: "image/jpeg", size: 10, width: 4, height: 3 });
    await expect(web.files.put("k2", file("not-a-blob.jpg"))).rejects.toThrow(TypeError);
    web.db.close();

    const again = await openWebStore(name);
    expect(await again.files.keys()).toEqual(["k1"]);
    const got = (await again.files.get("k1"))!;
    expect(got).toMatchObject({ name: "a.jpg", type: "image/jpeg", size: 10, width: 4, height: 3 });
    expect(got.data).toBeInstanceOf(Blob);
    await again.files.delete("k1");
    expect(await again.files.get("k1")).toBeNull();
    again.db.close();
  });
});
