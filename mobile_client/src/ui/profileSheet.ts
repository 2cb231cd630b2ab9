import { isDeletedUser } from "../core/account";
import type { User } from "../core/types";
import { avatar } from "./avatar";
import { errorText, type AppContext } from "./context";
import { h, replace } from "./dom";
import { shortWhen, timeOf } from "./format";
import { confirmSheet, openSheet } from "./sheet";

/**
 * A person, wherever the app shows one (a direct conversation's header, a member list):
 * name, @username, presence, and Message / Block / Unblock. It follows the store, so a
 * rename or a block made elsewhere shows at once.
 */
export function profileSheet(ctx: AppContext, who: User, opts: { inDirect?: boolean } = {}): void {
  const { client } = ctx;
  const body = h("div", { class: "profile" });
  const error = h("p", { class: "error", role: "alert" });
  let busy = false;

  function current(): User {
    return client.state.users[String(who.id)] ?? client.state.blocked[String(who.id)] ?? who;
  }

  async function setBlocked(u: User, block: boolean) {
    const name = u.display_name || u.username;
    const ok = await confirmSheet(block
      ? { title: `Block ${name}?`, text: `${name} won't be able to message you in your direct conversation, and neither will you. You won't see each other's online status or typing. Group messages still show.`, confirm: "Block", danger: true }
      : { title: `Unblock ${name}?`, text: `You can message each other directly again.`, confirm: "Unblock" });
    if (!ok || busy) return;
    busy = true;
    error.textContent = "";
    try {
      await (block ? client.block(u) : client.unblock(u));
      ctx.toast(block ? `${name} is blocked` : `${name} is unblocked`);
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      busy = false;
      render();
    }
  }

  async function message(u: User) {
    try {
      const c = await client.startDirect(u.id);
      sheet.close();
      ctx.navigate(`#/c/${c.id}`);
    } catch (e) {
      error.textContent = errorText(e);
    }
  }

  function render() {
    const u = current();
    const s = client.state;
    const mine = u.id === s.me?.id;
    const gone = isDeletedUser(u);
    const blocked = client.isBlocked(u.id);
    const name = u.display_name || u.username;
    const status = gone ? "This account was closed" : blocked ? "Blocked" : u.online ? "online" : u.last_seen_at ? `last seen ${shortWhen(u.last_seen_at)} ${timeOf(u.last_seen_at)}` : "offline";
    replace(body,
      avatar(u.id, name, !blocked && !gone && u.online),
      h("h2", { class: "sheet-title profile-name" }, name),
      gone ? null : h("p", { class: "muted profile-username" }, `@${u.username}`),
      h("p", { class: "muted profile-status" }, mine ? "This is you" : status),
    );
    replace(actions,
      mine ? h("a", { class: "sheet-item", href: "#/settings", on: { click: () => sheet.close() } }, "Edit profile") : null,
      !mine && !gone && !blocked && !opts.inDirect ? h("button", { type: "button", class: "sheet-item", on: { click: () => void message(u) } }, "Message") : null,
      !mine && !gone
        ? h("button", { type: "button", class: `sheet-item${blocked ? "" : " danger"}`, on: { click: () => void setBlocked(u, !blocked) } }, blocked ? "Unblock" : "Block")
        : null,
    );
  }

  const actions = h("div", { class: "sheet-actions" });
  const unsubscribe = client.store.subscribe(() => render());
  const sheet = openSheet(`Profile of ${who.display_name || who.username}`, (close) => [
    body,
    error,
    actions,
    h("button", { type: "button", class: "sheet-item", on: { click: close } }, "Close"),
  ], { className: "profile-sheet", onClose: unsubscribe });
  render();
  actions.querySelector<HTMLElement>("button, a")?.focus();
}
