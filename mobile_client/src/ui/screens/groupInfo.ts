import { h, replace } from "../dom";
import { avatar } from "../avatar";
import { userSearch } from "../userSearch";
import { profileSheet } from "../profileSheet";
import { errorText, type AppContext, type Screen } from "../context";

/** Group details: members with roles and presence, add/remove (owner/admin), leave. */
export function groupInfoScreen(ctx: AppContext, id: number): Screen {
  const { client } = ctx;
  const title = h("h1", null, "Group");
  const meta = h("p", { class: "muted" });
  const members = h("ul", { class: "member-list", "aria-label": "Members" });
  const adminTools = h("section", { class: "card" }, h("h2", null, "Add a member"),
    userSearch(client, "add", "Find people", async (u) => {
      try {
        await client.addMember(id, u.id);
      } catch (e) {
        ctx.toast(errorText(e));
      }
    }, "Add"),
  );

  async function remove(userId: number) {
    try {
      await client.removeMember(id, userId);
      if (userId === client.me?.id) ctx.navigate("#/");
    } catch (e) {
      ctx.toast(errorText(e));
    }
  }

  function update() {
    const s = client.state;
    const c = s.conversations[String(id)]?.conversation;
    if (!c) return;
    title.textContent = c.name ?? "Group";
    meta.textContent = `${c.visibility === "public" ? "Public room" : "Private group"} · ${c.posting === "admins" ? "admins post" : "everyone posts"}`;
    const myRole = c.roles?.[String(s.me?.id)];
    const manager = myRole === "owner" || myRole === "admin";
    adminTools.hidden = !manager;
    replace(members, c.members.map((m) => {
      const u = s.users[String(m.id)] ?? m;
      const role = c.roles?.[String(u.id)] ?? "member";
      return h("li", { class: "member" },
        avatar(u.id, u.display_name || u.username, u.online),
        // The name opens the person's profile (Message, Block).
        h("button", { type: "button", class: "member-main member-open", "aria-label": `Profile of ${u.display_name}`, on: { click: () => profileSheet(ctx, u) } },
          h("strong", null, u.display_name), h("span", { class: "muted" }, `@${u.username} · ${role}${u.online ? " · online" : ""}`)),
        manager && u.id !== s.me?.id && role !== "owner"
          ? h("button", { type: "button", class: "btn", "aria-label": `Remove ${u.display_name}`, on: { click: () => void remove(u.id) } }, "Remove")
          : null,
      );
    }));
  }

  void client.refreshConversation(id);
  update();
  return {
    el: h("main", { class: "screen" },
      h("header", { class: "bar" }, h("a", { href: `#/c/${id}`, class: "btn back", "aria-label": "Back to chat" }, "‹"), title),
      h("div", { class: "scroll pad" },
        meta,
        h("section", { class: "card" }, h("h2", null, "Members"), members),
        adminTools,
        h("button", { type: "button", class: "btn danger", on: { click: () => void remove(client.me!.id) } }, "Leave group"),
      ),
    ),
    update,
  };
}
