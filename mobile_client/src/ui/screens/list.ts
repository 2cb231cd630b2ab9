import { conversationTitle, otherMembers, sortedConversations } from "../../core/selectors";
import type { ConversationState } from "../../core/state";
import { avatar } from "../avatar";
import { h, replace } from "../dom";
import { shortWhen } from "../format";
import type { AppContext, Screen } from "../context";

/** Conversation list: avatars with online dots, previews, unread badges, queued counts. */
export function listScreen(ctx: AppContext): Screen {
  const { client } = ctx;
  const list = h("ul", { class: "conv-list", "aria-label": "Conversations" });
  const empty = h("p", { class: "empty" }, "No conversations yet. Start one with ", h("strong", null, "New"), " or join a room.");
  const meName = h("span", { class: "me-name" });

  const header = h(
    "header",
    { class: "bar" },
    h("div", { class: "title-block" }, h("h1", null, "Chats"), meName),
    h("nav", { class: "actions" },
      h("a", { href: "#/rooms", class: "btn", "aria-label": "Browse public rooms" }, "Rooms"),
      h("a", { href: "#/new", class: "btn primary", "aria-label": "New conversation" }, "New"),
      h("button", { type: "button", class: "btn", on: { click: () => void signOut() } }, "Sign out"),
    ),
  );

  async function signOut() {
    await client.logout();
    ctx.navigate("#/login");
  }

  function row(c: ConversationState): HTMLElement {
    const s = client.state;
    const conv = c.conversation!;
    const title = conversationTitle(s, c);
    const peer = conv.type === "direct" ? otherMembers(s, c)[0] : undefined;
    const online = s.connection === "connected" && Boolean(peer?.online);
    const last = conv.last_message;
    const queued = client.outbox.list(c.id).length;
    let preview = "No messages yet";
    if (last) {
      const who = last.sender_id === s.me?.id ? "You: " : conv.type === "group" ? `${s.users[String(last.sender_id)]?.display_name ?? "Someone"}: ` : "";
      preview = last.deleted ? "Message deleted" : who + last.body;
    }
    const unread = c.unread_count;
    return h(
      "li",
      null,
      h(
        "a",
        {
          href: `#/c/${c.id}`,
          class: `conv${unread ? " has-unread" : ""}`,
          "aria-label": `${title}${unread ? `, ${unread} unread` : ""}${online ? ", online" : ""}`,
        },
        avatar(peer?.id ?? conv.id, title, online, conv.type === "group"),
        h("span", { class: "conv-main" },
          h("span", { class: "conv-top" }, h("span", { class: "conv-title" }, title), h("time", { class: "conv-time" }, shortWhen(last?.created_at ?? ""))),
          h("span", { class: "conv-bottom" },
            h("span", { class: "preview" }, queued ? `⏱ ${queued} queued · ` : "", preview),
            unread ? h("span", { class: "badge", "aria-hidden": "true" }, unread > 99 ? "99+" : unread) : null,
          ),
        ),
      ),
    );
  }

  function update() {
    const s = client.state;
    meName.textContent = s.me ? `@${s.me.username}` : "";
    const convs = sortedConversations(s).filter((c) => c.conversation?.is_member !== false);
    replace(list, convs.map(row));
    empty.hidden = convs.length > 0;
  }

  update();
  return { el: h("main", { class: "screen list-screen" }, header, h("div", { class: "scroll" }, list, empty)), update };
}
