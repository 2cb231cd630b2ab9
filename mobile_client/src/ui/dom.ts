/**
 * A tiny hyperscript helper. Strings become text nodes, never HTML: user content can
 * only ever reach the page as text, which rules out injection by construction.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, unknown> & { class?: string; on?: Record<string, (ev: never) => void> };

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "on") {
        for (const [ev, fn] of Object.entries(value as Record<string, (e: Event) => void>)) el.addEventListener(ev, fn);
      } else if (key === "class") {
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- class names are strings
        el.className = String(value);
      } else if (key === "dataset") {
        Object.assign(el.dataset, value);
      } else if (key in el && !key.startsWith("aria-") && key !== "role" && key !== "for") {
        (el as unknown as Record<string, unknown>)[key] = value;
      } else {
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- attribute values are strings, numbers or true
        el.setAttribute(key === "for" ? "for" : key, value === true ? "" : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces all children (text-safe). */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}
