import { h } from "../dom";
import { errorText, type AppContext, type Screen } from "../context";
import { deviceName } from "../../platform/webPush";

/** Sign in / sign up on one screen, toggled; the token goes to storage via the core. */
export function authScreen(ctx: AppContext): Screen {
  let mode: "login" | "register" = "login";
  const error = h("p", { class: "error", role: "alert" });
  // Why the last session ended (a password changed elsewhere, the account closed), said once.
  const why = ctx.takeNotice();
  const notice = h("p", { class: "notice", role: "status", hidden: !why }, why ?? "");
  const username = h("input", { id: "auth-username", name: "username", autocomplete: "username", required: true, autocapitalize: "none", spellcheck: false });
  const display = h("input", { id: "auth-display", name: "display_name", autocomplete: "nickname" });
  const password = h("input", { id: "auth-password", name: "password", type: "password", required: true, minLength: 8 });
  const displayRow = h("div", { class: "field" }, h("label", { for: "auth-display" }, "Display name (optional)"), display);
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const title = h("h1", null, "Sign in");
  const toggle = h("button", { type: "button", class: "link", on: { click: () => setMode(mode === "login" ? "register" : "login") } }, "Create an account");

  function setMode(next: typeof mode) {
    mode = next;
    title.textContent = mode === "login" ? "Sign in" : "Create account";
    submit.textContent = mode === "login" ? "Sign in" : "Sign up";
    toggle.textContent = mode === "login" ? "Create an account" : "I already have an account";
    displayRow.hidden = mode === "login";
    password.autocomplete = mode === "login" ? "current-password" : "new-password";
    error.textContent = "";
  }

  const form = h(
    "form",
    {
      class: "auth",
      on: {
        submit: async (ev: Event) => {
          ev.preventDefault();
          error.textContent = "";
          submit.disabled = true;
          try {
            if (mode === "login") await ctx.client.login(username.value, password.value, deviceName());
            else await ctx.client.register(username.value, password.value, display.value || undefined);
            ctx.client.connect();
            ctx.navigate("#/");
          } catch (e) {
            error.textContent = errorText(e);
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    title,
    notice,
    h("div", { class: "field" }, h("label", { for: "auth-username" }, "Username"), username),
    displayRow,
    h("div", { class: "field" }, h("label", { for: "auth-password" }, "Password (8+ characters)"), password),
    error,
    submit,
    toggle,
  );
  setMode("login");
  return { el: h("main", { class: "screen auth-screen" }, h("div", { class: "brand", "aria-hidden": "true" }, "💬"), form), update() {} };
}
