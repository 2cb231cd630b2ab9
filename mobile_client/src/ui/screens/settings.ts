import { DISPLAY_NAME_MAX } from "../../core/account";
import { ChatError } from "../../core/errors";
import { LIMITS } from "../../core/types";
import { avatar } from "../avatar";
import { errorText, type AppContext, type Screen } from "../context";
import { h, replace } from "../dom";
import { blockedSection, closeAccountSection, devicesSection, exportSection, notificationsSection, type Section } from "./settingsSections";

/**
 * The account's settings (from the avatar in the list header): display name, password,
 * devices, notifications on this device, blocked users, the data export, signing out and
 * closing the account. Each section saves on its own and says so inline.
 */
export function settingsScreen(ctx: AppContext): Screen {
  const { client } = ctx;
  const sections: Section[] = [
    profileSection(ctx),
    passwordSection(ctx),
    devicesSection(ctx),
    notificationsSection(ctx),
    blockedSection(ctx),
    exportSection(ctx),
  ];
  const signOut = h("button", { type: "button", class: "btn", on: { click: () => void leave() } }, "Sign out");
  const closing = closeAccountSection(ctx);

  async function leave() {
    signOut.disabled = true;
    await ctx.push.forgetDevice();
    await client.logout();
    ctx.navigate("#/login");
  }

  function update() {
    for (const s of sections) s.update?.();
  }

  update();
  return {
    el: h("main", { class: "screen settings-screen" },
      h("header", { class: "bar" }, h("a", { href: "#/", class: "btn back", "aria-label": "Back to conversations" }, "‹"), h("h1", null, "Settings")),
      h("div", { class: "scroll pad" }, sections.map((s) => s.el), signOut, closing.el),
    ),
    update,
  };
}

/** Display name: PATCH /me; the list header and everyone who shares a conversation follow. */
function profileSection(ctx: AppContext): Section {
  const { client } = ctx;
  const who = h("div", { class: "profile-row" });
  const name = h("input", { id: "settings-name", maxLength: DISPLAY_NAME_MAX, autocomplete: "nickname", required: true });
  const status = h("p", { class: "muted", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, "Save name");
  let shown = "";

  async function submit() {
    const value = name.value.trim();
    error.textContent = status.textContent = "";
    if (!value) return void (error.textContent = "A display name can't be empty");
    save.disabled = true;
    try {
      const u = await client.updateProfile(value);
      status.textContent = `Saved. People in your conversations now see “${u.display_name}”.`;
    } catch (e) {
      error.textContent = errorText(e);
    } finally {
      save.disabled = false;
    }
  }

  return {
    el: h("form", { class: "card", "aria-labelledby": "settings-profile", on: { submit: (ev: Event) => (ev.preventDefault(), void submit()) } },
      h("h2", { id: "settings-profile" }, "Profile"),
      who,
      h("div", { class: "field" }, h("label", { for: "settings-name" }, "Display name"), name),
      error,
      status,
      save,
    ),
    update() {
      const me = client.state.me;
      if (!me) return;
      replace(who, avatar(me.id, me.display_name || me.username), h("span", { class: "member-main" }, h("strong", null, me.display_name), h("span", { class: "muted" }, `@${me.username}`)));
      // A rename from another device shows, unless the field is being edited.
      if (me.display_name !== shown && (document.activeElement !== name || !name.value)) name.value = me.display_name;
      shown = me.display_name;
    },
  };
}

/** Current + new + confirm; this device stays signed in, the others are signed out by the server. */
function passwordSection(ctx: AppContext): Section {
  const { client } = ctx;
  const field = (id: string, label: string, autocomplete: string) => {
    const input = h("input", { id, type: "password", autocomplete, required: true });
    return { input, el: h("div", { class: "field" }, h("label", { for: id }, label), input) };
  };
  const current = field("pw-current", "Current password", "current-password");
  const next = field("pw-new", `New password (${LIMITS.minPasswordChars}+ characters)`, "new-password");
  const again = field("pw-confirm", "Confirm new password", "new-password");
  next.input.minLength = LIMITS.minPasswordChars;
  const status = h("p", { class: "muted", role: "status" });
  const error = h("p", { class: "error", role: "alert" });
  const submitBtn = h("button", { type: "submit", class: "primary" }, "Change password");

  async function submit() {
    error.textContent = status.textContent = "";
    if ([...next.input.value].length < LIMITS.minPasswordChars) return void (error.textContent = `The new password needs at least ${LIMITS.minPasswordChars} characters`);
    if (next.input.value !== again.input.value) return void (error.textContent = "The new passwords don't match");
    submitBtn.disabled = true;
    try {
      await client.changePassword(current.input.value, next.input.value);
      for (const f of [current, next, again]) f.input.value = "";
      status.textContent = "Password changed. You're still signed in here; your other devices were signed out.";
    } catch (e) {
      error.textContent = e instanceof ChatError && e.code === "forbidden" ? "Current password is wrong" : errorText(e);
      if (e instanceof ChatError && e.code === "forbidden") current.input.focus();
    } finally {
      submitBtn.disabled = false;
    }
  }

  return {
    el: h("form", { class: "card", "aria-labelledby": "settings-password", on: { submit: (ev: Event) => (ev.preventDefault(), void submit()) } },
      h("h2", { id: "settings-password" }, "Password"),
      // A hidden username lets password managers file the new password under the account.
      h("input", { type: "text", autocomplete: "username", hidden: true, value: client.state.me?.username ?? "", tabIndex: -1, "aria-hidden": "true" }),
      current.el, next.el, again.el,
      error,
      status,
      submitBtn,
    ),
  };
}
