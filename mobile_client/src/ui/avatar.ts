import { h } from "./dom";
import { hue, initials } from "./format";

/** Initials avatar with an optional online dot (aria-label says it for screen readers). */
export function avatar(id: number, name: string, online?: boolean, group = false): HTMLElement {
  return h(
    "span",
    { class: `avatar${group ? " group" : ""}`, style: `--h:${hue(id)}`, "aria-hidden": "true" },
    initials(name),
    online ? h("span", { class: "dot", title: "online" }) : null,
  );
}
