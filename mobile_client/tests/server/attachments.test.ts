import { deflateSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { attachmentsOf } from "../../src/core/attachments";
import { ChatClient } from "../../src/core/client";
import { MemoryStorage } from "../../src/core/storage";
import { MemoryFileStore, type LocalFile } from "../../src/core/uploads";
import { io } from "socket.io-client";
import { CHAT_URL, connected, registered, until } from "./helpers";

const open: ChatClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.disconnect();
});

/** A real PNG of `w` x `h` pixels (a gradient), built with zlib: no image library needed. */
function png(w: number, h: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const rows = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * (w * 3 + 1) + 1 + x * 3;
      rows[i] = (x * 255) / w;
      rows[i + 1] = (y * 255) / h;
      rows[i + 2] = 128;
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(rows)), chunk("IEND", Buffer.alloc(0))]);
}

const local = (name: string, bytes: Buffer, type: string): LocalFile => ({ data: new Blob([new Uint8Array(bytes)], { type }), name, type, size: bytes.length });

async function get(c: ChatClient, path: string): Promise<{ status: number; type: string | null; bytes: number }> {
  const res = await fetch(`${CHAT_URL}${path}`, { headers: { Authorization: `Bearer ${c.token}` } });
  return { status: res.status, type: res.headers.get("content-type"), bytes: (await res.arrayBuffer()).byteLength };
}

describe.skipIf(!CHAT_URL)(`attachments against ${CHAT_URL || "(set CHAT_URL)"}`, () => {
  it("a captionless photo and a file go through the outbox; the other member sees them and can fetch both", async () => {
    const alice = await registered("ata");
    const bob = await registered("atb");
    open.push(alice, bob);
    await connected(alice);
    await connected(bob);
    const dm = await alice.startDirect(bob.me!.id);
    await until(() => bob.state.conversations[String(dm.id)]?.conversation, 5_000, "bob sees the DM");

    const entry = await alice.sendMessage(dm.id, "", { files: [local("gradient.png", png(640, 480), "image/png"), local("notes.txt", Buffer.from("hello notes"), "text/plain")] });
    await until(() => alice.outbox.size === 0, 15_000, "uploaded and sent");
    const got = await until(() => bob.state.conversations[String(dm.id)]?.messages.find((m) => m.client_id === entry.client_id), 5_000, "bob receives it");
    const [image, file] = attachmentsOf(got!);
    expect(got!.body).toBe("");
    expect(image).toMatchObject({ name: "gradient.png", width: 640, height: 480 });
    expect(image.content_type).toMatch(/^image\//);
    expect(image.thumbnail_url).toBeTruthy();
    expect(file).toMatchObject({ name: "notes.txt", width: null, height: null, thumbnail_url: null, content_type: "application/octet-stream", size: 11 });

    const thumb = await get(bob, image.thumbnail_url!);
    expect(thumb.status).toBe(200);
    expect(thumb.type).toMatch(/^image\//);
    expect((await get(bob, image.url)).status).toBe(200);
    expect(await get(bob, file.url)).toMatchObject({ status: 200, bytes: 11 });

    // Deleted: the files are gone for everyone.
    await alice.deleteMessage(alice.state.conversations[String(dm.id)].messages.find((m) => m.client_id === entry.client_id)!);
    expect((await get(bob, image.url)).status).toBe(404);
  });

  it("queued while the app is closed, sent exactly once by the next start: uploads persisted, not repeated", async () => {
    const alice = await registered("atq");
    const bob = await registered("atr");
    open.push(bob);
    await connected(bob);
    const dm = await bob.startDirect(alice.me!.id);
    const storage = new MemoryStorage();
    const files = new MemoryFileStore();
    const make = () =>
      new ChatClient({ baseUrl: CHAT_URL, storage, files, io, transport: { ackTimeoutMs: 5_000, options: { reconnectionDelay: 100, reconnectionDelayMax: 500 } } });
    const first = make();
    await first.login(alice.me!.username, "password-123");
    const entry = await first.sendMessage(dm.id, "from the train", { files: [local("a.png", png(64, 48), "image/png")] });
    // The upload happens (REST), but the app is closed before any socket connects.
    const uploaded = (await until(() => first.outbox.get(entry.client_id)?.attachments?.[0].upload, 10_000, "uploaded"))!;
    first.uploads.stop();

    const again = make();
    open.push(again);
    expect(await again.restore()).toBe(true);
    await connected(again);
    await until(() => again.outbox.size === 0, 10_000, "sent after the restart");
    const page = await bob.rest.messages(dm.id, { limit: 10 });
    const copies = page.messages.filter((m) => m.client_id === entry.client_id);
    expect(copies).toHaveLength(1);
    expect(attachmentsOf(copies[0]).map((a) => a.id)).toEqual([uploaded.id]); // the upload made before the restart
    await until(() => files.files.size === 0, 5_000, "the bytes deleted once sent");
  });
});
