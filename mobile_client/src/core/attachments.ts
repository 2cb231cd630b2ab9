import type { Attachment, Message } from "./types";

/**
 * v2 attachments (PROTOCOL.md "Attachments"): the uploaded file as the server describes it
 * (the generated type). `width`, `height` and `thumbnail_url` are null when it is not an image;
 * `url` and `thumbnail_url` are same-origin paths, authenticated like every request.
 */
export type { Attachment };

/** A message's attachments (`[]` from a server or message without any). */
export function attachmentsOf(m: Pick<Message, "attachments">): Attachment[] {
  return Array.isArray(m.attachments) ? m.attachments : [];
}

/** An image the client can show as a picture: the server made a thumbnail and knows its size. */
export function isImage(a: Pick<Attachment, "thumbnail_url" | "width" | "height">): boolean {
  return Boolean(a.thumbnail_url && a.width && a.height);
}

/** "1.2 MB", "340 KB", "12 bytes": sizes as people read them (powers of 1024, one decimal). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} byte${bytes === 1 ? "" : "s"}`;
  const units = ["KB", "MB", "GB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} ${units[i]}`;
}

/**
 * The box an image is shown in before it loads: its aspect ratio, scaled down to fit
 * `maxWidth` x `maxHeight` (never scaled up), so the bubble has its final size from the first frame.
 */
export function fitBox(width: number, height: number, maxWidth: number, maxHeight = maxWidth): { width: number; height: number } {
  const scale = Math.min(1, maxWidth / width, maxHeight / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}
