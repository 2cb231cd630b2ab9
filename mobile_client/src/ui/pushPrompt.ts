import { h } from "./dom";
import { errorText, type AppContext } from "./context";

/**
 * "Get notified of new messages": the in-app card that precedes the browser's permission
 * dialog. Shown only once the user has a conversation (there is something to be notified
 * about), never on first load; "Not now" is remembered. The browser's dialog only ever
 * follows a tap on "Turn on", so a refusal there is a real "no", not a reflex.
 */
export function pushPrompt(ctx: AppContext): { el: HTMLElement; update(): void } {
  const { client, push } = ctx;
  let busy = false;
  const turnOn = h("button", { type: "button", class: "primary", on: { click: () => void enable() } }, "Turn on");
  const later = h("button", { type: "button", class: "btn", on: { click: () => (push.dismiss(), update()) } }, "Not now");
  const el = h(
    "section",
    { class: "push-prompt", role: "region", "aria-label": "Notifications", hidden: true },
    h("span", { class: "push-prompt-icon", "aria-hidden": "true" }, "🔔"),
    h("div", { class: "push-prompt-text" },
      h("strong", null, "Get notified of new messages"),
      h("span", { class: "muted" }, "Even when this app is closed. You can mute any conversation."),
    ),
    h("div", { class: "push-prompt-actions" }, later, turnOn),
  );

  async function enable() {
    if (busy) return;
    busy = true;
    turnOn.disabled = true;
    try {
      const result = await push.turnOn();
      if (result === "subscribed") ctx.toast("Notifications are on");
      else if (result === "denied") ctx.toast("Notifications are blocked for this site; the browser's site settings can allow them");
      else ctx.toast("This browser cannot show notifications");
    } catch (e) {
      ctx.toast(`Could not turn on notifications: ${errorText(e)}`);
    } finally {
      busy = false;
      turnOn.disabled = false;
      update();
    }
  }

  function update() {
    el.hidden = !push.shouldPrompt(client.state);
  }

  update();
  return { el, update };
}
