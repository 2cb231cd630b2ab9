import { ChatError } from "../../core/errors";
import type { Token, User } from "../../core/types";
import { avatar } from "../avatar";
import { errorText, type AppContext } from "../context";
import { h, replace } from "../dom";
import { shortWhen, timeOf } from "../format";
import { saveBlob } from "../media";
import { confirmSheet } from "../sheet";

export interface Section {
  el: HTMLElement;
  /** Called on every store change while the screen is shown. */
  update?(): void;
}

function when(iso: string | null): string {
  return iso ? `${shortWhen(iso)} ${timeOf(iso)}`.trim() : "never";
}

/** The account's logins (GET /auth/tokens), this one marked; the others can be signed out. */
export function devicesSection(ctx: AppContext): Section {
  const { client } = ctx;
  const list = h("ul", { class: "device-list", "aria-label": "Signed-in devices" });
  const error = h("p", { class: "error", role: "alert" });

  async function load() {
    try {
      const tokens = await client.devices();
      tokens.sort((a, b) => Number(b.current) - Number(a.current) || (b.last_used_at ?? b.created_at).localeCompare(a.last_used_at ?? a.created_at));
      replace(list, tokens.length ? tokens.map(row) : h("li", { class: "muted" }, "No devices"));
    } catch (e) {
      error.textContent = errorText(e);
    }
  }

  async function revoke(t: Token) {
    const name = t.device_name || "Unnamed device";
    if (!(await confirmSheet({ title: `Sign out ${name}?`, text: "That device will have to sign in again.", confirm: "Sign out", danger: true }))) return;
    try {
      await client.revokeDevice(t.id);
      ctx.toast(`${name} was signed out`);
    } catch (e) {
      error.textContent = errorText(e);
    }
    await load();
  }

  function row(t: Token): HTMLElement {
    const name = t.device_name || "Unnamed device";
    return h("li", { class: "device" },
      h("span", { class: "member-main" },
        h("strong", null, name, t.current ? h("span", { class: "tag" }, "This device") : null),
        h("span", { class: "muted" }, `Signed in ${when(t.created_at)} · last active ${when(t.last_used_at)}`),
      ),
      t.current ? null : h("button", { type: "button", class: "btn", "aria-label": `Sign out ${name}`, on: { click: () => void revoke(t) } }, "Sign out"),
    );
  }

  void load();
  return { el: h("section", { class: "card", "aria-labelledby": "settings-devices" }, h("h2", { id: "settings-devices" }, "Devices"), list, error) };
}

/**
 * Push on this device (the same subscribe code as the list's prompt), and what the defaults
 * are: each conversation's 🔔 sets its own level; a new one notifies about every message.
 */
export function notificationsSection(ctx: AppContext): Section {
  const { push } = ctx;
  const toggle = h("input", { id: "settings-push", type: "checkbox", role: "switch", on: { change: () => void flip() } });
  const status = h("p", { class: "muted", role: "status" });
  let busy = false;

  async function flip() {
    if (busy) return;
    busy = true;
    toggle.disabled = true;
    try {
      if (toggle.checked) {
        const result = await push.turnOn();
        if (result === "denied") status.textContent = "Notifications are blocked for this site; the browser's site settings can allow them.";
        else if (result === "unsupported") status.textContent = "This browser can't show notifications.";
        else status.textContent = "Notifications are on for this device.";
      } else {
        await push.turnOff();
        status.textContent = "Notifications are off for this device.";
      }
    } catch (e) {
      status.textContent = `Could not change notifications: ${errorText(e)}`;
    } finally {
      busy = false;
      render();
    }
  }

  function render() {
    toggle.checked = push.enabled;
    toggle.disabled = busy || !push.supported || push.permission === "denied";
    if (!push.supported) status.textContent = "This browser can't show notifications.";
    else if (push.permission === "denied") status.textContent = "Notifications are blocked for this site; the browser's site settings can allow them.";
  }

  render();
  return {
    el: h("section", { class: "card", "aria-labelledby": "settings-notifications" },
      h("h2", { id: "settings-notifications" }, "Notifications"),
      h("label", { class: "switch-row", for: "settings-push" }, h("span", null, "Push notifications on this device"), toggle),
      status,
      h("p", { class: "muted" }, "New conversations notify you about every message. Change it for one conversation with its 🔔: all messages, only @mentions or nothing, or mute it for a while."),
    ),
    update: render,
  };
}

/** GET /me/blocks, each with Unblock; the list follows blocks made anywhere in the app. */
export function blockedSection(ctx: AppContext): Section {
  const { client } = ctx;
  const list = h("ul", { class: "member-list", "aria-label": "Blocked users" });
  const error = h("p", { class: "error", role: "alert" });
  let shown = "";

  async function unblock(u: User) {
    const name = u.display_name || u.username;
    if (!(await confirmSheet({ title: `Unblock ${name}?`, text: "You can message each other directly again.", confirm: "Unblock" }))) return;
    try {
      await client.unblock(u);
      ctx.toast(`${name} is unblocked`);
    } catch (e) {
      error.textContent = errorText(e);
    }
  }

  function render() {
    const users = Object.values(client.state.blocked);
    const key = users.map((u) => `${u.id}:${u.display_name}`).join(",");
    if (key === shown && list.childElementCount) return; // keep focus across unrelated updates
    shown = key;
    replace(list, users.length === 0
      ? h("li", { class: "muted" }, "You haven't blocked anyone.")
      : users.map((u) => h("li", { class: "member" },
          avatar(u.id, u.display_name || u.username),
          h("span", { class: "member-main" }, h("strong", null, u.display_name), h("span", { class: "muted" }, `@${u.username}`)),
          h("button", { type: "button", class: "btn", "aria-label": `Unblock ${u.display_name}`, on: { click: () => void unblock(u) } }, "Unblock"),
        )));
  }

  void client.loadBlocks().then(render);
  render();
  return { el: h("section", { class: "card", "aria-labelledby": "settings-blocked" }, h("h2", { id: "settings-blocked" }, "Blocked users"), list, error), update: render };
}

/** GET /me/export as a JSON file: profile, devices, conversations and every message sent. */
export function exportSection(ctx: AppContext): Section {
  const { client } = ctx;
  const status = h("p", { class: "muted", role: "status" });
  const button = h("button", { type: "button", class: "btn", on: { click: () => void run() } }, "Export my data");

  async function run() {
    button.disabled = true;
    status.textContent = "Preparing your data…";
    try {
      const data = await client.exportData();
      const day = new Date().toISOString().slice(0, 10);
      saveBlob(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }), `chat-export-${client.state.me?.username ?? "me"}-${day}.json`);
      status.textContent = "Your data was downloaded as a JSON file.";
    } catch (e) {
      status.textContent = `Export failed: ${errorText(e)}`;
    } finally {
      button.disabled = false;
    }
  }

  return {
    el: h("section", { class: "card", "aria-labelledby": "settings-export" },
      h("h2", { id: "settings-export" }, "Your data"),
      h("p", { class: "muted" }, "Download your profile, devices, conversations and every message you sent, as JSON."),
      button,
      status,
    ),
  };
}

/** DELETE /me with the password: signed out everywhere, login refused, messages stay as "Deleted user". */
export function closeAccountSection(ctx: AppContext): Section {
  const { client } = ctx;
  const password = h("input", { id: "close-password", type: "password", autocomplete: "current-password" });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "btn danger" }, "Close my account");

  async function submit() {
    error.textContent = "";
    if (!password.value) return void (error.textContent = "Enter your password to close your account");
    const sure = await confirmSheet({
      title: "Close your account?",
      text: "You'll be signed out everywhere and can't sign in again. Your messages stay in others' conversations, shown as from “Deleted user”. This can't be undone.",
      confirm: "Close my account",
      danger: true,
    });
    if (!sure) return;
    button.disabled = true;
    try {
      await client.closeAccount(password.value);
      await ctx.push.forgetDevice();
      ctx.signedOut("Your account is closed.");
    } catch (e) {
      error.textContent = e instanceof ChatError && e.code === "forbidden" ? "Password is wrong" : errorText(e);
      button.disabled = false;
    }
  }

  return {
    el: h("form", { class: "card danger-zone", "aria-labelledby": "settings-close", on: { submit: (ev: Event) => (ev.preventDefault(), void submit()) } },
      h("h2", { id: "settings-close", class: "danger" }, "Close account"),
      h("p", { class: "muted" }, "Closing your account signs you out on every device, leaves your groups and refuses any sign-in. It can't be undone; export your data first if you want a copy."),
      h("div", { class: "field" }, h("label", { for: "close-password" }, "Password"), password),
      error,
      button,
    ),
  };
}
