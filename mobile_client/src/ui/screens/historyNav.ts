import type { Hole } from "../../core/messages";
import { errorText, type AppContext } from "../context";
import { h } from "../dom";

/** How long a message jumped to stays highlighted. */
const FLASH_MS = 1_600;
/** Show the "jump to the latest" button once the reader is this far above the bottom. */
const LATEST_BUTTON_PX = 600;
/** Start filling a hole this far before it scrolls into view. */
const HOLE_MARGIN = "300px 0px";

/**
 * Moving around a conversation's history beyond reverse scrolling: the jump to a quoted
 * original (loading a page around it when it is not held), the holes such a jump leaves
 * (filled from the side the reader scrolls in from), and the ↓ button back to the latest.
 */
export function historyNav(ctx: AppContext, id: number, scroller: HTMLElement, log: HTMLElement, status: HTMLElement, rerender: () => void) {
  const { client } = ctx;
  const filling = new Set<number>();
  const toLatest = h("button", {
    type: "button", class: "to-latest", hidden: true, "aria-label": "Jump to the latest messages",
    on: { click: () => scroller.scrollTo({ top: scroller.scrollHeight, behavior: "smooth" }) },
  }, "↓");
  const watcher = new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting) fill(e.target as HTMLElement);
  }, { root: scroller, rootMargin: HOLE_MARGIN });

  /** A hole came into view: load the side the reader is coming from (above the middle: scrolling up). */
  function fill(el: HTMLElement) {
    const after = Number(el.dataset.after);
    const before = Number(el.dataset.before);
    if (filling.has(after)) return;
    const box = el.getBoundingClientRect();
    const view = scroller.getBoundingClientRect();
    const direction = box.top + box.height / 2 < view.top + view.height / 2 ? "up" : "down";
    filling.add(after);
    el.textContent = "Loading…";
    client
      .fillHole(id, { after, before, missing: before - after - 1 }, direction)
      .catch((e) => ctx.toast(errorText(e)))
      .finally(() => filling.delete(after));
  }

  return {
    toLatest,

    /**
     * Tap on a quote: scroll to the original and highlight it. Not on screen: one page of
     * history around it is loaded first (the hole it leaves below fills while scrolling).
     */
    async jumpTo(seq: number): Promise<void> {
      const find = () => log.querySelector<HTMLElement>(`.msg[data-seq="${seq}"]`);
      if (!find()) {
        status.textContent = "Loading the original message…";
        try {
          const found = await client.loadAround(id, seq);
          rerender();
          if (!found) {
            ctx.toast("That message is no longer available");
            return;
          }
        } catch (e) {
          ctx.toast(errorText(e));
          return;
        } finally {
          status.textContent = "";
        }
      }
      const el = find();
      if (!el) return;
      el.scrollIntoView({ block: "center" });
      el.classList.remove("flash");
      void el.offsetWidth; // restart the animation when the same message is jumped to twice
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), FLASH_MS);
    },

    /** "Show N more messages" where history is not loaded; it fills as it comes into view, or on a tap. */
    holeMarker(gap: Hole): HTMLElement {
      const el = h("button", {
        type: "button", class: "hole", dataset: { after: String(gap.after), before: String(gap.before) },
        on: { click: () => fill(el) },
      }, `Show ${gap.missing} more message${gap.missing === 1 ? "" : "s"}`);
      watcher.observe(el);
      return el;
    },

    /** A row left the list: a hole marker stops being watched. */
    removed(el: HTMLElement): void {
      if (el.classList.contains("hole")) watcher.unobserve(el);
    },

    onScroll(): void {
      toLatest.hidden = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < LATEST_BUTTON_PX;
    },

    destroy(): void {
      watcher.disconnect();
    },
  };
}
