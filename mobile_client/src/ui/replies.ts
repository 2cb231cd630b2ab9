import { attachmentsOf, isImage } from "../core/attachments";
import { quoteSnippet } from "../core/replies";
import type { ChatState } from "../core/state";
import type { Message, ReplyPreview } from "../core/types";
import { h, replace } from "./dom";

/** Past this many pixels of a rightward swipe, letting go replies. */
const SWIPE_REPLY_PX = 56;
/** The bubble follows the finger up to here, then stops. */
const SWIPE_MAX_PX = 88;
/** Movement before the gesture is decided to be a swipe or a scroll. */
const SLOP_PX = 10;

/** "You", or the sender's display name as the client knows it. */
export function senderName(s: ChatState, senderId: number): string {
  if (senderId === s.me?.id) return "You";
  const u = s.users[String(senderId)];
  return u?.display_name || u?.username || `User ${senderId}`;
}

/**
 * What a quote says: the original's text, "Deleted message", or for a captionless original
 * (only attachments) what it carried when the client holds it.
 */
export function quoteText(q: ReplyPreview, original: Message | undefined): { text: string; deleted: boolean } {
  if (q.deleted) return { text: "Deleted message", deleted: true };
  const text = quoteSnippet(q);
  if (text) return { text, deleted: false };
  return { text: attachmentLabel(original) ?? "Attachment", deleted: false };
}

/** "Photo", "2 photos", "📎 report.pdf": what an attachment-only message is called in one line. */
export function attachmentLabel(m: Message | undefined): string | null {
  const files = m ? attachmentsOf(m) : [];
  if (files.length === 0) return null;
  const images = files.filter(isImage).length;
  if (images === files.length) return images === 1 ? "📷 Photo" : `📷 ${images} photos`;
  return files.length === 1 ? `📎 ${files[0].name}` : `📎 ${files.length} files`;
}

/**
 * The quote at the top of a reply's bubble: who wrote the original and its first line. A
 * button when `onOpen` is given (tap: scroll to the original).
 */
export function quoteView(s: ChatState, q: ReplyPreview, original: Message | undefined, onOpen?: () => void): HTMLElement {
  const who = senderName(s, q.sender_id);
  const { text, deleted } = quoteText(q, original);
  const children = [h("span", { class: "quote-sender" }, who), h("span", { class: `quote-text${deleted ? " gone" : ""}` }, text)];
  if (!onOpen) return h("div", { class: "quote", dataset: { quotes: String(q.id) } }, children);
  return h(
    "button",
    {
      type: "button",
      class: "quote",
      dataset: { quotes: String(q.id), quotesSeq: String(q.seq) },
      "aria-label": `Quoted, ${who}: ${text}. Show the original`,
      on: {
        click: (ev: Event) => {
          ev.stopPropagation();
          onOpen();
        },
      },
    },
    children,
  );
}

/** The strip above the composer while replying: "Replying to Alice", the snippet, Cancel. */
export function replyStrip(onCancel: () => void): { el: HTMLElement; show(s: ChatState, q: ReplyPreview | null, original: Message | undefined): void } {
  const body = h("div", { class: "reply-strip-body" });
  const el = h(
    "div",
    { class: "reply-strip", hidden: true, role: "status", "aria-label": "Replying" },
    h("span", { class: "reply-strip-icon", "aria-hidden": "true" }, "↩"),
    body,
    h("button", { type: "button", class: "btn reply-cancel", "aria-label": "Cancel reply", on: { click: onCancel } }, "✕"),
  );
  let shown = "";
  return {
    el,
    show(s, q, original) {
      el.hidden = !q;
      if (!q) {
        shown = "";
        return;
      }
      const { text, deleted } = quoteText(q, original);
      const who = senderName(s, q.sender_id);
      const key = `${q.id}|${who}|${text}`;
      if (key === shown) return;
      shown = key;
      replace(body,
        h("span", { class: "quote-sender" }, q.sender_id === s.me?.id ? "Replying to yourself" : `Replying to ${who}`),
        h("span", { class: `quote-text${deleted ? " gone" : ""}` }, text),
      );
    },
  };
}

/**
 * Swipe right on a bubble (touch) to reply. The bubble has `touch-action: pan-y`, so the
 * browser keeps vertical scrolling and hands horizontal moves to us; the bubble follows the
 * finger, the ↩ hint shows how far, and letting go past SWIPE_REPLY_PX replies.
 */
export function swipeToReply(row: HTMLElement, bubble: HTMLElement, fire: () => void): void {
  let start: { x: number; y: number; id: number } | null = null;
  let tracking = false;
  let dx = 0;
  const reset = () => {
    start = null;
    tracking = false;
    bubble.style.transform = "";
    row.classList.remove("swiping", "swipe-armed");
    row.style.removeProperty("--swipe");
  };
  bubble.addEventListener("pointerdown", (ev) => {
    if (ev.pointerType !== "touch" || !ev.isPrimary) return;
    start = { x: ev.clientX, y: ev.clientY, id: ev.pointerId };
    dx = 0;
  });
  bubble.addEventListener("pointermove", (ev) => {
    if (!start || ev.pointerId !== start.id) return;
    dx = ev.clientX - start.x;
    const dy = ev.clientY - start.y;
    if (!tracking) {
      if (dx > SLOP_PX && dx > Math.abs(dy) * 1.5) {
        tracking = true;
        row.classList.add("swiping");
      } else if (Math.abs(dy) > SLOP_PX || dx < -SLOP_PX) {
        start = null; // a scroll or a leftward move: not ours
        return;
      } else return;
    }
    const x = Math.max(0, Math.min(dx, SWIPE_MAX_PX));
    bubble.style.transform = `translateX(${x}px)`;
    row.style.setProperty("--swipe", String(x / SWIPE_REPLY_PX));
    row.classList.toggle("swipe-armed", dx >= SWIPE_REPLY_PX);
  });
  bubble.addEventListener("pointerup", () => {
    const go = tracking && dx >= SWIPE_REPLY_PX;
    reset();
    if (go) fire();
  });
  bubble.addEventListener("pointercancel", reset);
}
