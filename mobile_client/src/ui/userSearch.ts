import type { ChatClient } from "../core/client";
import type { User } from "../core/types";
import { avatar } from "./avatar";
import { h, replace } from "./dom";

/** A labelled search box over GET /users?q= with debounced results; `pick` gets the chosen user. */
export function userSearch(client: ChatClient, idPrefix: string, label: string, pick: (u: User) => void, action = "Choose"): HTMLElement {
  const results = h("ul", { class: "user-results", "aria-label": `${label} results` });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let seq = 0;
  const input = h("input", {
    id: `${idPrefix}-q`,
    type: "search",
    autocomplete: "off",
    autocapitalize: "none",
    placeholder: "username or name",
    on: {
      input: () => {
        clearTimeout(timer);
        timer = setTimeout(() => void search(input.value.trim()), 200);
      },
    },
  });
  async function search(q: string) {
    const mine = ++seq;
    if (!q) return replace(results);
    const users = (await client.rest.searchUsers(q).catch(() => [] as User[])).filter((u) => u.id !== client.me?.id);
    if (mine !== seq) return; // a newer query already answered
    replace(
      results,
      users.length === 0
        ? h("li", { class: "empty" }, "No one found")
        : users.map((u) =>
            h("li", null,
              h("button", { type: "button", class: "user-pick", "aria-label": `${action} ${u.display_name} (@${u.username})`, on: { click: () => pick(u) } },
                avatar(u.id, u.display_name || u.username, u.online),
                h("span", null, h("strong", null, u.display_name), " ", h("span", { class: "muted" }, `@${u.username}`)),
              ),
            ),
          ),
    );
  }
  return h("div", { class: "user-search" }, h("label", { for: `${idPrefix}-q` }, label), input, results);
}
