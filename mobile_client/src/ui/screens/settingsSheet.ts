import { NOTIFICATION_LEVELS, notificationState, type MuteChoice, type NotificationLevel, type NotificationState } from "../../core/settings";
import { h, replace } from "../dom";
import { dayLabel, timeOf } from "../format";
import { errorText, type AppContext } from "../context";

const LEVEL_TEXT: Record<NotificationLevel, [string, string]> = {
  all: ["All messages", "Every new message"],
  mentions: ["Only @mentions", "When someone writes @your name"],
  none: ["Nothing", "No notifications, the unread count still shows"],
};

const MUTES: [MuteChoice, string][] = [
  ["1h", "1 hour"],
  ["8h", "8 hours"],
  ["1w", "1 week"],
  ["always", "Always"],
];

/** "Muted until 18:00", "Muted until Tue 8 Dec 18:00", "Muted": what the sheet and the header say. */
export function notificationSummary(n: NotificationState, now = new Date()): string {
  if (n.forever) return "Muted";
  if (n.mutedUntil) {
    const day = dayLabel(n.mutedUntil, now);
    const when = day === "Today" ? timeOf(n.mutedUntil) : `${day === "Yesterday" ? "" : `${day} `}${timeOf(n.mutedUntil)}`;
    return `Muted until ${when}`;
  }
  return n.level === "all" ? "Notifications: all messages" : n.level === "mentions" ? "Notifications: only @mentions" : "Notifications: off";
}

/**
 * Per-conversation notification settings as a bottom sheet (from the chat header): the level
 * (all, mentions, none) and a mute (1 hour, 8 hours, 1 week, always) or unmute. Every choice
 * is saved at once (PATCH /conversations/<id>/settings) and the sheet follows the store, so it
 * shows the server's answer, and a change from another device too.
 */
export function notificationSheet(ctx: AppContext, id: number): void {
  const { client } = ctx;
  const previous = document.activeElement as HTMLElement | null;
  const status = h("p", { class: "sheet-status", role: "status" });
  const levels = h("fieldset", { class: "sheet-levels" }, h("legend", null, "Notify me about"));
  const muteRow = h("div", { class: "sheet-mutes", role: "group", "aria-label": "Mute" });
  let saving = false;
  let shownMuted: boolean | null = null;

  const radios = NOTIFICATION_LEVELS.map((level) => {
    const input = h("input", { type: "radio", name: `notify-${id}`, value: level, on: { change: () => void save({ notifications: level }) } });
    const [label, hint] = LEVEL_TEXT[level];
    levels.append(h("label", { class: "sheet-choice" }, input, h("span", null, h("span", null, label), h("span", { class: "muted" }, hint))));
    return input;
  });

  async function save(change: { notifications?: NotificationLevel } | { mute: MuteChoice | null }) {
    if (saving) return;
    saving = true;
    try {
      if ("mute" in change) await (change.mute ? client.mute(id, change.mute) : client.unmute(id));
      else await client.updateSettings(id, change);
    } catch (e) {
      ctx.toast(errorText(e));
    } finally {
      saving = false;
      render();
    }
  }

  function render() {
    const n = notificationState(client.state.conversations[String(id)]?.conversation, Date.now());
    status.textContent = notificationSummary(n);
    // While a choice is being saved the radios show it, not the stored level an unrelated
    // store update (a receipt, a presence change) would put back before the answer arrives.
    if (!saving) radios.forEach((r) => (r.checked = r.value === n.level));
    // Rebuilt only when the mute flips, so focus stays put across unrelated store updates.
    if (shownMuted === Boolean(n.mutedUntil)) return;
    shownMuted = Boolean(n.mutedUntil);
    const hadFocus = muteRow.contains(document.activeElement);
    replace(
      muteRow,
      n.mutedUntil
        ? h("button", { type: "button", class: "sheet-item", on: { click: () => void save({ mute: null }) } }, "Unmute")
        : MUTES.map(([choice, label]) =>
            h("button", { type: "button", class: "chip", "aria-label": choice === "always" ? "Mute always" : `Mute for ${label}`, on: { click: () => void save({ mute: choice }) } }, label),
          ),
    );
    if (hadFocus) muteRow.querySelector("button")?.focus();
  }

  const close = () => {
    unsubscribe();
    backdrop.remove();
    document.removeEventListener("keydown", onKey);
    previous?.focus?.();
  };
  const onKey = (ev: KeyboardEvent) => ev.key === "Escape" && close();
  const sheet = h(
    "div",
    { class: "sheet settings-sheet", role: "dialog", "aria-modal": "true", "aria-label": "Notification settings" },
    h("h2", { class: "sheet-title" }, "Notifications"),
    status,
    levels,
    h("p", { class: "sheet-label" }, "Mute"),
    muteRow,
    h("button", { type: "button", class: "sheet-item", on: { click: close } }, "Done"),
  );
  const backdrop = h("div", { class: "backdrop", on: { click: (ev: Event) => ev.target === backdrop && close() } }, sheet);
  const unsubscribe = client.store.subscribe(() => render());
  render();
  document.body.appendChild(backdrop);
  document.addEventListener("keydown", onKey);
  (radios.find((r) => r.checked) ?? radios[0]).focus();
}
