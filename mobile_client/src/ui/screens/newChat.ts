import type { User } from "../../core/types";
import { h, replace } from "../dom";
import { userSearch } from "../userSearch";
import { errorText, type AppContext, type Screen } from "../context";

/** Start a direct message from user search, or create a group with chosen members. */
export function newChatScreen(ctx: AppContext): Screen {
  const { client } = ctx;
  const chosen = new Map<number, User>();
  const chips = h("ul", { class: "chips", "aria-label": "Group members" });
  const name = h("input", { id: "group-name", required: true, maxLength: 100 });
  const visibility = h("select", { id: "group-visibility" },
    h("option", { value: "private" }, "Private (invite only)"),
    h("option", { value: "public" }, "Public room (anyone can join)"),
  );
  const error = h("p", { class: "error", role: "alert" });

  function renderChips() {
    replace(chips, [...chosen.values()].map((u) =>
      h("li", null, h("button", { type: "button", class: "chip", "aria-label": `Remove ${u.display_name}`, on: { click: () => (chosen.delete(u.id), renderChips()) } }, `${u.display_name} ✕`)),
    ));
  }

  const dm = userSearch(client, "dm", "Message someone", async (u) => {
    try {
      const c = await client.startDirect(u.id);
      ctx.navigate(`#/c/${c.id}`);
    } catch (e) {
      ctx.toast(errorText(e));
    }
  }, "Message");

  const members = userSearch(client, "members", "Add members", (u) => (chosen.set(u.id, u), renderChips()), "Add");

  const form = h("form", {
    class: "card",
    on: {
      submit: async (ev: Event) => {
        ev.preventDefault();
        error.textContent = "";
        try {
          const c = await client.createGroup(name.value.trim(), [...chosen.keys()], visibility.value as "private" | "public");
          ctx.navigate(`#/c/${c.id}`);
        } catch (e) {
          error.textContent = errorText(e);
        }
      },
    },
  },
    h("h2", null, "New group"),
    h("div", { class: "field" }, h("label", { for: "group-name" }, "Group name"), name),
    h("div", { class: "field" }, h("label", { for: "group-visibility" }, "Visibility"), visibility),
    members,
    chips,
    error,
    h("button", { type: "submit", class: "primary" }, "Create group"),
  );

  return {
    el: h("main", { class: "screen" },
      h("header", { class: "bar" }, h("a", { href: "#/", class: "btn back", "aria-label": "Back" }, "‹"), h("h1", null, "New conversation")),
      h("div", { class: "scroll pad" }, h("section", { class: "card" }, h("h2", null, "Direct message"), dm), form),
    ),
    update() {},
  };
}
