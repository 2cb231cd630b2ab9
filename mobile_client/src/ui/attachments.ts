import { fitBox, formatSize, isImage, type Attachment } from "../core/attachments";
import type { ChatClient } from "../core/client";
import type { OutboxEntry, PendingAttachment } from "../core/outbox";
import { h } from "./dom";
import { download, loadImage, localPreview, previewForUpload, rememberPreview } from "./media";
import { openViewer } from "./viewer";

/** The largest an image is shown in a bubble (CSS px); its box is sized before it loads. */
const IMAGE_MAX_W = 240;
const IMAGE_MAX_H = 320;

/** A glyph for a file card, by the type the server serves it with. */
function fileIcon(type: string): string {
  if (type === "application/pdf") return "📄";
  if (type.startsWith("video/")) return "🎬";
  if (type.startsWith("audio/")) return "🎵";
  if (type.startsWith("image/")) return "🖼";
  return "📎";
}

function imageBox(width: number, height: number): string {
  const box = fitBox(width, height, IMAGE_MAX_W, IMAGE_MAX_H);
  return `width: ${box.width}px; aspect-ratio: ${width} / ${height};`;
}

/**
 * A sent message's attachments: images as their thumbnail in a box of the image's own aspect
 * ratio (sized from `width`/`height` before a byte has loaded, so nothing jumps), tap for full
 * screen; other files as a card with name, size and a download.
 */
export function attachmentsView(client: ChatClient, files: Attachment[], onError: (e: unknown) => void): HTMLElement | null {
  if (files.length === 0) return null;
  return h("div", { class: "attachments" }, files.map((a) => (isImage(a) ? imageTile(client, a, onError) : fileCard(client, a, onError))));
}

function imageTile(client: ChatClient, a: Attachment, onError: (e: unknown) => void): HTMLElement {
  const img = h("img", { alt: a.name, width: a.width!, height: a.height!, decoding: "async", draggable: false });
  // The sender's own copy while the thumbnail loads (no blank box right after sending).
  const local = previewForUpload(a.id);
  if (local) img.src = local;
  else loadImage(client, img, a.thumbnail_url!);
  return h(
    "button",
    {
      type: "button",
      class: "att-image",
      style: imageBox(a.width!, a.height!),
      "aria-label": `Photo ${a.name}, ${a.width} × ${a.height}. Open full screen`,
      dataset: { attachmentId: String(a.id) },
      on: {
        click: (ev: Event) => {
          ev.stopPropagation();
          openViewer(client, a, img.currentSrc || null, onError);
        },
      },
    },
    img,
  );
}

function fileCard(client: ChatClient, a: Attachment, onError: (e: unknown) => void): HTMLElement {
  const size = h("span", { class: "att-size" }, formatSize(a.size));
  return h(
    "a",
    {
      class: "att-file",
      href: a.url,
      download: a.name,
      "aria-label": `Download ${a.name}, ${formatSize(a.size)}`,
      dataset: { attachmentId: String(a.id) },
      on: {
        click: (ev: Event) => {
          ev.preventDefault();
          ev.stopPropagation();
          size.textContent = "Downloading…";
          download(client, a.url, a.name)
            .catch(onError)
            .finally(() => (size.textContent = formatSize(a.size)));
        },
      },
    },
    h("span", { class: "att-icon", "aria-hidden": "true" }, fileIcon(a.content_type)),
    h("span", { class: "att-text" }, h("span", { class: "att-name" }, a.name), size),
    h("span", { class: "att-download", "aria-hidden": "true" }, "⤓"),
  );
}

/**
 * The attachments of a message still in the outbox: the picture from this device (the bytes
 * waiting in IndexedDB), a progress bar while it uploads, ✕ to cancel that one, and why the
 * server refused it. Progress bars are updated in place by `updateProgress`.
 */
export function pendingAttachmentsView(client: ChatClient, entry: OutboxEntry, onCancel: (key: string) => void): HTMLElement | null {
  const files = entry.attachments ?? [];
  if (files.length === 0) return null;
  return h("div", { class: "attachments pending" }, files.map((a) => pendingTile(client, entry, a, onCancel)));
}

function pendingTile(client: ChatClient, entry: OutboxEntry, a: PendingAttachment, onCancel: (key: string) => void): HTMLElement {
  const picture = a.type.startsWith("image/") && a.width && a.height;
  let preview: HTMLElement;
  if (picture) {
    const img = h("img", { alt: a.name, width: a.width!, height: a.height!, decoding: "async" });
    // Uploaded: the sent bubble that replaces this one shows the same picture at once.
    if (a.upload) rememberPreview(a.key, a.upload.id);
    void localPreview(client, a.key).then((url) => {
      if (!url) return;
      img.src = url;
      if (a.upload) rememberPreview(a.key, a.upload.id);
    });
    preview = h("div", { class: "att-image", style: imageBox(a.width!, a.height!) }, img);
  } else {
    preview = h("div", { class: "att-file" },
      h("span", { class: "att-icon", "aria-hidden": "true" }, fileIcon(a.type)),
      h("span", { class: "att-text" }, h("span", { class: "att-name" }, a.name), h("span", { class: "att-size" }, formatSize(a.size))),
    );
  }
  const bar = h("progress", { class: "att-progress", max: a.size || 1, value: a.upload ? a.size : 0, "aria-label": `Uploading ${a.name}` });
  const status = h("span", { class: "att-status" }, a.upload ? "Uploaded" : entry.state === "failed" ? "" : "Waiting to upload");
  return h(
    "div",
    { class: `att-pending${a.error ? " refused" : ""}`, dataset: { uploadKey: a.key, uploaded: a.upload ? "true" : "false" } },
    preview,
    h("div", { class: "att-upload" },
      a.error ? h("span", { class: "att-error", role: "alert" }, a.error) : [bar, status],
      h("button", {
        type: "button", class: "att-cancel", "aria-label": `Cancel ${a.name}`,
        on: { click: (ev: Event) => (ev.stopPropagation(), onCancel(a.key)) },
      }, "✕"),
    ),
  );
}

/** Moves every progress bar under `root` to where its upload is (cheap: called on each progress event). */
export function updateProgress(client: ChatClient, root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>(".att-pending[data-uploaded=false]")) {
    const p = client.uploads.progress(el.dataset.uploadKey!);
    const bar = el.querySelector("progress");
    const status = el.querySelector(".att-status");
    if (!p || !bar || !status) continue;
    bar.max = p.total || 1;
    bar.value = p.loaded;
    const pct = Math.min(100, Math.round((100 * p.loaded) / (p.total || 1)));
    status.textContent = p.loaded >= p.total ? "Sending…" : `${pct}%`;
  }
}
