import { conversationTitle, otherMembers, sortedConversations } from "../../core/selectors";
import { notificationState } from "../../core/settings";
import type { ConversationState } from "../../core/state";
import { avatar } from "../avatar";
import { h, replace } from "../dom";
import { shortWhen } from "../format";
import type { AppContext, Screen } from "../context";
import { pushPrompt } from "../pushPrompt";
import { attachmentLabel } from "../replies";

/** Conversation list: avatars with online dots, previews, unread badges, queued counts. */
export function listScreen(ctx: AppContext): Screen {
  const { client } = ctx;
  const list = h("ul", { class: "conv-list", "aria-label": "Conversations" });
  const empty = h("p", { class: "empty" }, "No conversations yet. Start one with ", h("strong", null, "New"), " or join a room.");
  const meName = h("span", { class: "me-name" });
  const prompt = pushPrompt(ctx);
  // Our own avatar opens the settings (profile, password, devices, blocks, sign out).
  const settings = h("a", { href: "#/settings", class: "me-link", "aria-label": "Settings" });

  const header = h(
    "header",
    { class: "bar" },
    h("div", { class: "title-block" }, h("h1", null, "Chats"), meName),
    h("nav", { class: "actions" },
      h("a", { href: "#/search", class: "btn", "aria-label": "Search messages" }, "🔍"),
      h("a", { href: "#/rooms", class: "btn", "aria-label": "Browse public rooms" }, "Rooms"),
      h("a", { href: "#/new", class: "btn primary", "aria-label": "New conversation" }, "New"),
      settings,
    ),
  );

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
      // A captionless photo or file says what it is; a caption is shown as the text.
      preview = last.deleted ? "Message deleted" : who + (last.body || attachmentLabel(last) || "");
    }
    const unread = c.unread_count;
    const mentions = unread ? c.unread_mentions : 0;
    const quiet = notificationState(conv, Date.now()).quiet;
    return h(
      "li",
      null,
      h(
        "a",
        {
          href: `#/c/${c.id}`,
          class: `conv${unread ? " has-unread" : ""}`,
          "aria-label": `${title}${unread ? `, ${unread} unread` : ""}${mentions ? `, ${mentions} mentioning you` : ""}${online ? ", online" : ""}${quiet ? ", muted" : ""}`,
        },
        avatar(peer?.id ?? conv.id, title, online, conv.type === "group"),
        h("span", { class: "conv-main" },
          h("span", { class: "conv-top" },
            h("span", { class: "conv-title" }, title),
            quiet ? h("span", { class: "muted-icon", title: "Muted", "aria-hidden": "true" }, "🔕") : null,
            h("time", { class: "conv-time" }, shortWhen(last?.created_at ?? "")),
          ),
          h("span", { class: "conv-bottom" },
            h("span", { class: "preview" }, queued ? `⏱ ${queued} queued · ` : "", preview),
            mentions ? h("span", { class: "badge mention-badge", title: `${mentions} mentioning you`, "aria-hidden": "true" }, "@") : null,
            unread ? h("span", { class: `badge${quiet ? " quiet" : ""}`, "aria-hidden": "true" }, unread > 99 ? "99+" : unread) : null,
          ),
        ),
      ),
    );
  }

  function update() {
    const s = client.state;
    meName.textContent = s.me ? `${s.me.display_name} · @${s.me.username}` : "";
    if (s.me) replace(settings, avatar(s.me.id, s.me.display_name || s.me.username));
    const convs = sortedConversations(s).filter((c) => c.conversation?.is_member !== false);
    // Rows are rebuilt on every change (presence, typing, counts): keep a keyboard user's place.
    const focused = list.contains(document.activeElement) ? document.activeElement?.getAttribute("href") : null;
    replace(list, convs.map(row));
    if (focused) list.querySelector<HTMLElement>(`a[href="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
    empty.hidden = convs.length > 0;
    prompt.update();
  }

  update();
  return { el: h("main", { class: "screen list-screen" }, header, h("div", { class: "scroll" }, prompt.el, list, empty)), update };
}
