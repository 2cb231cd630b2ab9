import { insertMention, mentionCandidates, mentionQuery, type MentionQuery } from "../core/mentions";
import type { User } from "../core/types";
import { avatar } from "./avatar";
import { h, replace } from "./dom";

export interface MentionPicker {
  el: HTMLElement;
  /** The composer's keydown goes here first; true when the picker used the key. */
  onKey(ev: KeyboardEvent): boolean;
  /** Re-read the text and caret (after input, a click, a caret move). */
  refresh(): void;
  close(): void;
}

let nextId = 0;

/**
 * The composer's `@` autocomplete: typing `@` and the start of a name lists the members it
 * matches (username or display name); arrows and Enter/Tab, or a tap, insert `@username `.
 * The textarea keeps the focus throughout (a combobox pattern: aria-activedescendant), so the
 * soft keyboard stays up on phones.
 */
export function mentionPicker(input: HTMLTextAreaElement, members: () => User[], meId: () => number | undefined): MentionPicker {
  const listId = `mention-list-${++nextId}`;
  const el = h("ul", { class: "mention-list", id: listId, role: "listbox", "aria-label": "Mention someone", hidden: true });
  let query: MentionQuery | null = null;
  let options: User[] = [];
  let active = 0;
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", listId);

  function render() {
    el.hidden = options.length === 0;
    input.setAttribute("aria-expanded", String(!el.hidden));
    replace(
      el,
      options.map((u, i) =>
        h(
          "li",
          {
            id: `${listId}-${i}`,
            role: "option",
            class: `mention-option${i === active ? " active" : ""}`,
            "aria-selected": String(i === active),
            on: {
              // Keep the focus (and the phone's keyboard) in the textarea.
              pointerdown: (ev: PointerEvent) => ev.preventDefault(),
              mousedown: (ev: MouseEvent) => ev.preventDefault(),
              click: () => choose(i),
            },
          },
          avatar(u.id, u.display_name || u.username),
          h("span", { class: "mention-names" }, h("strong", null, u.display_name || u.username), h("span", { class: "muted" }, `@${u.username}`)),
        ),
      ),
    );
    if (el.hidden) input.removeAttribute("aria-activedescendant");
    else input.setAttribute("aria-activedescendant", `${listId}-${active}`);
  }

  function refresh() {
    const caret = input.selectionStart ?? input.value.length;
    query = input.selectionStart === input.selectionEnd ? mentionQuery(input.value, caret) : null;
    const next = query ? mentionCandidates(members(), query.query, meId()) : [];
    if (next.map((u) => u.id).join() !== options.map((u) => u.id).join()) active = 0;
    options = next;
    render();
  }

  function choose(i: number) {
    const u = options[i];
    if (!u || !query) return;
    const caret = input.selectionStart ?? input.value.length;
    const next = insertMention(input.value, query.start, caret, u.username);
    input.value = next.text;
    input.setSelectionRange(next.caret, next.caret);
    input.focus();
    close();
    input.dispatchEvent(new Event("input", { bubbles: true })); // the typing indicator and auto-size follow
  }

  function close() {
    query = null;
    options = [];
    render();
  }

  function onKey(ev: KeyboardEvent): boolean {
    if (el.hidden || ev.isComposing) return false;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      const step = ev.key === "ArrowDown" ? 1 : -1;
      active = (active + step + options.length) % options.length;
      render();
    } else if (ev.key === "Enter" || ev.key === "Tab") {
      choose(active);
    } else if (ev.key === "Escape") {
      close();
    } else {
      return false;
    }
    ev.preventDefault();
    ev.stopPropagation();
    return true;
  }

  input.addEventListener("input", refresh);
  input.addEventListener("click", refresh);
  input.addEventListener("keyup", (ev) => {
    if (ev.key === "ArrowLeft" || ev.key === "ArrowRight" || ev.key === "Home" || ev.key === "End") refresh();
  });
  input.addEventListener("blur", () => close());
  return { el, onKey, refresh, close };
}
