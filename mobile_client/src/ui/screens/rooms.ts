import type { Room } from "../../core/types";
import { avatar } from "../avatar";
import { h, replace } from "../dom";
import { errorText, type AppContext, type Screen } from "../context";

/** Browse public rooms (GET /rooms?q=) and join or open them. */
export function roomsScreen(ctx: AppContext): Screen {
  const { client } = ctx;
  const list = h("ul", { class: "room-list", "aria-label": "Public rooms" });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const q = h("input", {
    id: "rooms-q",
    type: "search",
    placeholder: "Search rooms",
    on: { input: () => (clearTimeout(timer), (timer = setTimeout(() => void load(), 200))) },
  });

  async function load() {
    let rooms: Room[] = [];
    try {
      rooms = await client.rest.rooms(q.value.trim());
    } catch (e) {
      ctx.toast(errorText(e));
    }
    replace(list, rooms.length === 0 ? h("li", { class: "empty" }, "No public rooms found") : rooms.map(row));
  }

  function row(r: Room): HTMLElement {
    const joined = client.state.conversations[String(r.id)]?.conversation?.is_member !== false && Boolean(client.state.conversations[String(r.id)]);
    return h("li", { class: "room" },
      avatar(r.id, r.name, false, true),
      h("span", { class: "room-main" }, h("strong", null, r.name), h("span", { class: "muted" }, `${r.member_count} member${r.member_count === 1 ? "" : "s"} · ${r.online_count} online`)),
      joined
        ? h("a", { class: "btn", href: `#/c/${r.id}` }, "Open")
        : h("button", {
            type: "button",
            class: "btn primary",
            "aria-label": `Join ${r.name}`,
            on: {
              click: async () => {
                try {
                  await client.joinRoom(r.id);
                  ctx.navigate(`#/c/${r.id}`);
                } catch (e) {
                  ctx.toast(errorText(e));
                }
              },
            },
          }, "Join"),
    );
  }

  void load();
  return {
    el: h("main", { class: "screen" },
      h("header", { class: "bar" }, h("a", { href: "#/", class: "btn back", "aria-label": "Back" }, "‹"), h("h1", null, "Public rooms")),
      h("div", { class: "scroll pad" }, h("label", { for: "rooms-q", class: "sr-only" }, "Search rooms"), q, list),
    ),
    update() {},
  };
}
