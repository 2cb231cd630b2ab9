import { h } from "../dom";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

interface Options {
  mine: boolean;
  canDelete: boolean;
  /** v2 replies: a member who may post can quote the message. */
  canReply: boolean;
  onReply: () => void;
  onReact: (emoji: string) => void;
  onEdit: () => void;
  onDelete: () => void;
  /** v2: someone else's message can be reported to the operators. */
  onReport?: () => void;
}

/**
 * Bottom action sheet for one message (reactions, reply, edit, delete, report). A modal dialog with
 * focus moved inside and Escape / backdrop to close, so it works by touch and keyboard.
 */
export function messageActions(opts: Options): void {
  const previous = document.activeElement as HTMLElement | null;
  const close = () => {
    backdrop.remove();
    document.removeEventListener("keydown", onKey);
    previous?.focus?.();
  };
  const act = (fn: () => void) => () => (close(), fn());
  const onKey = (ev: KeyboardEvent) => ev.key === "Escape" && close();
  const sheet = h(
    "div",
    { class: "sheet", role: "dialog", "aria-modal": "true", "aria-label": "Message actions" },
    h("div", { class: "sheet-reactions" },
      QUICK_REACTIONS.map((e) => h("button", { type: "button", class: "emoji", "aria-label": `React ${e}`, on: { click: act(() => opts.onReact(e)) } }, e)),
    ),
    opts.canReply ? h("button", { type: "button", class: "sheet-item", on: { click: act(opts.onReply) } }, "Reply") : null,
    opts.mine ? h("button", { type: "button", class: "sheet-item", on: { click: act(opts.onEdit) } }, "Edit") : null,
    opts.canDelete ? h("button", { type: "button", class: "sheet-item danger", on: { click: act(opts.onDelete) } }, "Delete") : null,
    opts.onReport && !opts.mine ? h("button", { type: "button", class: "sheet-item", on: { click: act(opts.onReport) } }, "Report") : null,
    h("button", { type: "button", class: "sheet-item", on: { click: close } }, "Cancel"),
  );
  const backdrop = h("div", { class: "backdrop", on: { click: (ev: Event) => ev.target === backdrop && close() } }, sheet);
  document.body.appendChild(backdrop);
  document.addEventListener("keydown", onKey);
  sheet.querySelector<HTMLButtonElement>("button")?.focus();
}
