import { h, type Child } from "./dom";

export interface Sheet {
  el: HTMLElement;
  close(): void;
}

/** Open sheets, topmost last: Escape closes only the one in front (a confirm over a profile). */
const stack: HTMLElement[] = [];

/**
 * A bottom sheet (a centred dialog on wide screens): modal, focus moved inside and given
 * back on close, Escape or a tap on the backdrop closes it. `build` gets `close` for its buttons.
 */
export function openSheet(label: string, build: (close: () => void) => Child[], opts: { className?: string; onClose?: () => void } = {}): Sheet {
  const previous = document.activeElement as HTMLElement | null;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    stack.splice(stack.indexOf(backdrop), 1);
    backdrop.remove();
    document.removeEventListener("keydown", onKey);
    opts.onClose?.();
    if (previous?.isConnected) previous.focus();
  };
  const onKey = (ev: KeyboardEvent) => ev.key === "Escape" && stack[stack.length - 1] === backdrop && close();
  const sheet = h("div", { class: `sheet${opts.className ? ` ${opts.className}` : ""}`, role: "dialog", "aria-modal": "true", "aria-label": label }, build(close));
  const backdrop = h("div", { class: "backdrop", on: { click: (ev: Event) => ev.target === backdrop && close() } }, sheet);
  document.body.appendChild(backdrop);
  stack.push(backdrop);
  document.addEventListener("keydown", onKey);
  (sheet.querySelector<HTMLElement>("[autofocus]") ?? sheet.querySelector<HTMLElement>("input, textarea, button"))?.focus();
  return { el: sheet, close };
}

/** "Block Bob?" with the consequence spelled out; resolves true only on the confirming button. */
export function confirmSheet(opts: { title: string; text: string; confirm: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    let answered = false;
    const answer = (yes: boolean, close: () => void) => () => {
      answered = true;
      resolve(yes);
      close();
    };
    openSheet(opts.title, (close) => [
      h("h2", { class: "sheet-title" }, opts.title),
      h("p", { class: "sheet-text" }, opts.text),
      h("button", { type: "button", class: `sheet-item${opts.danger ? " danger" : ""}`, on: { click: answer(true, close) } }, opts.confirm),
      h("button", { type: "button", class: "sheet-item", autofocus: true, on: { click: answer(false, close) } }, "Cancel"),
    ], { onClose: () => !answered && resolve(false) });
  });
}
