import type { User } from "../core/types";
import { errorText, type AppContext } from "./context";
import { h } from "./dom";
import { confirmSheet } from "./sheet";

/**
 * In place of the composer, in a direct conversation with someone this account blocked:
 * "You blocked Bob." with Unblock. (Being blocked is never shown: the server refuses the
 * send, and the bubble says it couldn't be sent.) With a closed account: nobody to write to.
 */
export function blockBar(ctx: AppContext): { el: HTMLElement; show(peer: User | null, closed?: boolean): void } {
  const text = h("span", null);
  let peer: User | null = null;
  const unblock = h("button", { type: "button", class: "btn", on: { click: () => void run() } }, "Unblock");
  const el = h("div", { class: "block-bar", role: "status", hidden: true }, text, unblock);

  async function run() {
    if (!peer) return;
    const name = peer.display_name || peer.username;
    if (!(await confirmSheet({ title: `Unblock ${name}?`, text: "You can message each other directly again.", confirm: "Unblock" }))) return;
    try {
      await ctx.client.unblock(peer);
      ctx.toast(`${name} is unblocked`);
    } catch (e) {
      ctx.toast(errorText(e));
    }
  }

  return {
    el,
    show(p, closed = false) {
      peer = p;
      el.hidden = !p;
      unblock.hidden = closed;
      if (p) text.textContent = closed ? "This account was closed. Its messages stay here; nobody can reply." : `You blocked ${p.display_name || p.username}. You can't message each other here.`;
    },
  };
}
