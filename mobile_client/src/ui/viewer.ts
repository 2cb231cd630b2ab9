import type { Attachment } from "../core/attachments";
import type { ChatClient } from "../core/client";
import { h } from "./dom";
import { download, loadImage } from "./media";

const MAX_SCALE = 5;
const DOUBLE_TAP_MS = 300;
const DOUBLE_TAP_SCALE = 2.5;

/**
 * A photo full screen: the thumbnail at once (it is in the cache already), the original as
 * soon as it has loaded. Pinch to zoom and drag to pan on touch (the stage is
 * `touch-action: none`, so the gestures are ours and the page itself does not zoom), double
 * tap to zoom in and out, the wheel or +/- on desktop; Escape or ✕ closes.
 */
export function openViewer(client: ChatClient, a: Attachment, placeholder: string | null, onError: (e: unknown) => void): void {
  const previous = document.activeElement as HTMLElement | null;
  const img = h("img", { class: "viewer-img", alt: a.name, draggable: false, width: a.width ?? undefined, height: a.height ?? undefined });
  const stage = h("div", { class: "viewer-stage" }, img);
  const close = () => {
    overlay.remove();
    document.removeEventListener("keydown", onKey);
    previous?.focus?.();
  };
  const closeBtn = h("button", { type: "button", class: "viewer-btn", "aria-label": "Close", on: { click: close } }, "✕");
  const overlay = h(
    "div",
    { class: "viewer", role: "dialog", "aria-modal": "true", "aria-label": `Photo: ${a.name}` },
    h("div", { class: "viewer-bar" },
      closeBtn,
      h("span", { class: "viewer-name" }, a.name),
      h("button", {
        type: "button", class: "viewer-btn", "aria-label": `Download ${a.name}`,
        on: { click: () => void download(client, a.url, a.name).catch(onError) },
      }, "⤓"),
    ),
    stage,
  );

  // The thumbnail (or the sender's local copy) first, swapped for the original once loaded.
  if (placeholder) img.src = placeholder;
  else if (a.thumbnail_url) loadImage(client, img, a.thumbnail_url);
  const full = new Image();
  full.addEventListener("load", () => {
    img.src = full.src;
    img.dataset.full = "true";
  });
  loadImage(client, full, a.url);

  const zoom = pinchZoom(stage, img);
  const onKey = (ev: KeyboardEvent) => {
    if (ev.key === "Escape") close();
    else if (ev.key === "+" || ev.key === "=") zoom.by(1.5);
    else if (ev.key === "-") zoom.by(1 / 1.5);
  };
  document.addEventListener("keydown", onKey);
  document.body.append(overlay);
  closeBtn.focus();
}

/** Scale and translation of `img` inside `stage`, driven by pointers; `data-scale` says where it is. */
function pinchZoom(stage: HTMLElement, img: HTMLElement): { by(f: number): void } {
  let scale = 1;
  let tx = 0;
  let ty = 0;
  const pointers = new Map<number, { x: number; y: number }>();
  let pinch: { dist: number; scale: number; mid: { x: number; y: number }; tx: number; ty: number } | null = null;
  let lastTap = 0;
  /** Where a single finger went down: a tap moves less than a few pixels (a pan is no tap). */
  let tapStart: { x: number; y: number } | null = null;

  const center = () => {
    const r = stage.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  };
  const apply = () => {
    // Keep the picture on screen: at most half its zoomed overflow on each side.
    const r = stage.getBoundingClientRect();
    const maxX = ((scale - 1) * r.width) / 2;
    const maxY = ((scale - 1) * r.height) / 2;
    tx = Math.max(-maxX, Math.min(maxX, tx));
    ty = Math.max(-maxY, Math.min(maxY, ty));
    img.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    img.dataset.scale = scale.toFixed(2);
  };
  /** Zooms to `next` keeping the screen point `at` where it is. */
  const zoomTo = (next: number, at = center()) => {
    const s = Math.max(1, Math.min(MAX_SCALE, next));
    const c = center();
    const px = at.x - c.x;
    const py = at.y - c.y;
    tx = px - (s / scale) * (px - tx);
    ty = py - (s / scale) * (py - ty);
    scale = s;
    if (scale === 1) tx = ty = 0;
    apply();
  };
  const distance = () => {
    const [p, q] = [...pointers.values()];
    return Math.hypot(p.x - q.x, p.y - q.y) || 1;
  };
  const midpoint = () => {
    const [p, q] = [...pointers.values()];
    return { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
  };

  stage.addEventListener("pointerdown", (ev) => {
    stage.setPointerCapture?.(ev.pointerId);
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    tapStart = pointers.size === 1 ? { x: ev.clientX, y: ev.clientY } : null;
    if (pointers.size === 2) pinch = { dist: distance(), scale, mid: midpoint(), tx, ty };
  });
  stage.addEventListener("pointermove", (ev) => {
    const held = pointers.get(ev.pointerId);
    if (!held) return;
    const dx = ev.clientX - held.x;
    const dy = ev.clientY - held.y;
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pointers.size >= 2 && pinch) {
      const next = Math.max(1, Math.min(MAX_SCALE, (pinch.scale * distance()) / pinch.dist));
      const mid = midpoint();
      const c = center();
      // The point under the fingers' first midpoint follows the midpoint as it moves.
      const px = pinch.mid.x - c.x;
      const py = pinch.mid.y - c.y;
      scale = next;
      tx = mid.x - c.x - (next / pinch.scale) * (px - pinch.tx);
      ty = mid.y - c.y - (next / pinch.scale) * (py - pinch.ty);
      if (scale === 1) tx = ty = 0;
      apply();
    } else if (pointers.size === 1 && scale > 1) {
      tx += dx;
      ty += dy;
      apply();
    }
  });
  const end = (ev: PointerEvent) => {
    if (!pointers.delete(ev.pointerId)) return;
    if (pointers.size < 2) pinch = null;
    if (ev.type !== "pointerup" || pointers.size > 0) return;
    const tap = tapStart && Math.hypot(ev.clientX - tapStart.x, ev.clientY - tapStart.y) < 10;
    tapStart = null;
    if (!tap) {
      lastTap = 0;
      return;
    }
    const now = Date.now();
    if (now - lastTap < DOUBLE_TAP_MS) {
      zoomTo(scale > 1 ? 1 : DOUBLE_TAP_SCALE, { x: ev.clientX, y: ev.clientY });
      lastTap = 0;
    } else lastTap = now;
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  stage.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    zoomTo(scale * Math.exp(-ev.deltaY / 300), { x: ev.clientX, y: ev.clientY });
  }, { passive: false });
  apply();
  return { by: (f) => zoomTo(scale * f) };
}
