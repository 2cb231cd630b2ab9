import { REPORT_REASON_MAX } from "../core/account";
import type { Message } from "../core/types";
import { errorText, type AppContext } from "./context";
import { h, replace } from "./dom";
import { openSheet } from "./sheet";

/**
 * "Report" from a message's sheet: a reason (1-1000 characters) sent to the operators
 * (`POST /messages/<id>/report`), then "Reported, thank you". Nothing changes in the chat.
 */
export function reportSheet(ctx: AppContext, m: Message): void {
  const { client } = ctx;
  const reason = h("textarea", {
    id: `report-${m.id}`,
    rows: 3,
    maxLength: REPORT_REASON_MAX,
    placeholder: "Spam, harassment, something else…",
    on: { input: () => (send.disabled = !reason.value.trim()) },
  });
  const error = h("p", { class: "error", role: "alert" });
  const send = h("button", { type: "submit", class: "primary", disabled: true }, "Send report");
  const content = h("div", { class: "report" });

  async function submit(close: () => void) {
    const text = reason.value.trim();
    if (!text) return;
    send.disabled = true;
    error.textContent = "";
    try {
      await client.reportMessage(m.id, text);
      replace(content,
        h("p", { class: "sheet-text report-done", role: "status" }, "Reported, thank you. The moderators will look at it."),
        h("button", { type: "button", class: "sheet-item", on: { click: close } }, "Done"),
      );
      content.querySelector("button")?.focus();
    } catch (e) {
      error.textContent = errorText(e);
      send.disabled = false;
    }
  }

  openSheet("Report message", (close) => {
    replace(content,
      h("form", { class: "report-form", on: { submit: (ev: Event) => (ev.preventDefault(), void submit(close)) } },
        h("label", { for: reason.id }, "Why are you reporting this message?"),
        reason,
        error,
        send,
        h("button", { type: "button", class: "sheet-item", on: { click: close } }, "Cancel"),
      ),
    );
    return [h("h2", { class: "sheet-title" }, "Report message"), m.body ? h("p", { class: "sheet-quote" }, m.body) : null, content];
  }, { className: "report-sheet" });
}
