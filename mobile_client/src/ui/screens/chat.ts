import type { OutboxEntry } from "../../core/outbox";
import { mentionSegments } from "../../core/mentions";
import { holes } from "../../core/messages";
import { conversationTitle, otherMembers, tickFor, typingUsers, type Tick } from "../../core/selectors";
import { notificationState } from "../../core/settings";
import type { ConversationState } from "../../core/state";
import type { Message } from "../../core/types";
import { avatar } from "../avatar";
import { h, replace } from "../dom";
import { dayKey, dayLabel, shortWhen, timeOf } from "../format";
import { errorText, type AppContext, type Screen } from "../context";
import { quoteView, swipeToReply } from "../replies";
import { attachmentsOf } from "../../core/attachments";
import { attachmentsView, pendingAttachmentsView, updateProgress } from "../attachments";
import { conversationSeen } from "../../platform/webPush";
import { messageActions } from "./actions";
import { composer } from "./composer";
import { historyNav } from "./historyNav";
import { notificationSheet, notificationSummary } from "./settingsSheet";
import { blockBar } from "../blockBar";
import { isDeletedUser } from "../../core/account";
import { profileSheet } from "../profileSheet";
import { reportSheet } from "../reportSheet";
import { senderName } from "../replies";

const TICK_TEXT: Record<Tick | "queued" | "failed", [string, string]> = {
  queued: ["🕓", "Queued, will send when online"],
  failed: ["⚠", "Not sent"],
  sent: ["✓", "Sent"],
  delivered: ["✓✓", "Delivered"],
  read: ["✓✓", "Read"],
};

/** Load the previous page when the reader gets this close to the top. */
const LOAD_OLDER_PX = 300;
const LONG_PRESS_MS = 500;

interface Item {
  key: string;
  sig: string;
  build: () => HTMLElement;
}

/**
 * One conversation: reverse infinite scroll, day separators, ticks, typing, actions, composer.
 * `focusSeq` (a search result) opens it at that message, highlighted.
 */
export function chatScreen(ctx: AppContext, id: number, focusSeq?: number): Screen {
  const { client } = ctx;
  let loadingOlder = false;
  let prepending = false;
  let opened = false;
  let lastScrollTop = 0;
  const nodes = new Map<string, { sig: string; el: HTMLElement }>();

  const title = h("h1", { class: "chat-title" });
  const subtitle = h("p", { class: "chat-sub", "aria-live": "polite" });
  // The avatar opens the person's profile (direct) or the group's details.
  const avatarSlot = h("button", { type: "button", class: "avatar-slot", on: { click: () => openProfile() } });
  const searchLink = h("a", { class: "btn", href: `#/c/${id}/search`, "aria-label": "Search in this conversation" }, "🔍");
  const infoLink = h("a", { class: "btn", href: `#/c/${id}/info`, "aria-label": "Conversation details" }, "Info");
  const bell = h("button", { type: "button", class: "btn bell", "aria-label": "Notification settings", on: { click: () => notificationSheet(ctx, id) } }, "🔔");
  const header = h(
    "header",
    { class: "bar chat-bar" },
    h("a", { href: "#/", class: "btn back", "aria-label": "Back to conversations" }, "‹"),
    avatarSlot,
    h("div", { class: "chat-head" }, title, subtitle),
    searchLink,
    bell,
    infoLink,
  );
  const older = h("div", { class: "older", role: "status" });
  const log = h("div", { class: "log", role: "log", "aria-label": "Messages", "aria-live": "polite" });
  const scroller = h("div", { class: "messages", tabIndex: 0, on: { scroll: () => onScroll() } }, older, log);
  const nav = historyNav(ctx, id, scroller, log, older, () => update());
  const typingLine = h("p", { class: "typing", "aria-live": "polite" });
  const input = composer(
    ctx,
    id,
    () => (conv()?.conversation?.members ?? []).map((u) => client.state.users[String(u.id)] ?? u),
    () => (scroller.scrollTop = scroller.scrollHeight),
  );
  const joinBar = h("div", { class: "join-bar", hidden: true },
    h("button", { type: "button", class: "primary", on: { click: () => void join() } }, "Join this room"),
  );
  const blocked = blockBar(ctx);
  const footer = h("footer", { class: "chat-foot" }, nav.toLatest, typingLine, ...input.parts, joinBar, blocked.el);

  const timer = setInterval(() => renderTyping(), 1000);
  const onVisible = () => {
    if (document.visibilityState !== "visible") return;
    conversationSeen(id);
    void client.markRead(id);
  };
  document.addEventListener("visibilitychange", onVisible);

  function conv(): ConversationState | undefined {
    return client.state.conversations[String(id)];
  }

  let opening = false;
  let refused = false; // the server said no: do not retry on every update
  async function open() {
    if (opening) return;
    opening = true;
    try {
      await client.openConversation(id);
      opened = true;
      conversationSeen(id);
      update();
      scroller.scrollTop = scroller.scrollHeight;
      if (focusSeq !== undefined) await nav.jumpTo(focusSeq);
      maybeLoadOlder();
    } catch (e) {
      // Offline with cached messages on screen: not an error, it opens once connected (update()).
      if (client.state.connection === "connected") refused = true;
      if (refused || !conv()?.messages.length) ctx.toast(errorText(e));
    } finally {
      opening = false;
    }
  }

  async function join() {
    try {
      await client.joinRoom(id);
      update();
    } catch (e) {
      ctx.toast(errorText(e));
    }
  }

  function maybeLoadOlder() {
    const c = conv();
    if (!opened || loadingOlder || !c?.has_older || c.messages.length === 0) return;
    if (scroller.scrollTop > LOAD_OLDER_PX && scroller.scrollHeight > scroller.clientHeight) return;
    loadingOlder = true;
    older.textContent = "Loading earlier messages…";
    prepending = true;
    client
      .loadOlder(id)
      .catch((e) => ctx.toast(errorText(e)))
      .finally(() => {
        prepending = false;
        loadingOlder = false;
        older.textContent = conv()?.has_older ? "" : "Beginning of the conversation";
        // The page may still not fill the screen: keep going.
        requestAnimationFrame(() => maybeLoadOlder());
      });
  }

  function onScroll() {
    const up = scroller.scrollTop < lastScrollTop;
    lastScrollTop = scroller.scrollTop;
    nav.onScroll();
    if (up || scroller.scrollTop <= LOAD_OLDER_PX) maybeLoadOlder();
  }

  function renderTyping() {
    const names = typingUsers(client.state, id, Date.now()).map((u) => u.display_name || u.username);
    typingLine.textContent = names.length === 0 ? "" : names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
  }

  function peer() {
    const c = conv();
    return c?.conversation?.type === "direct" ? otherMembers(client.state, c)[0] : undefined;
  }

  function openProfile() {
    const p = peer();
    if (p) profileSheet(ctx, p, { inDirect: true });
    else if (conv()?.conversation?.type === "group") ctx.navigate(`#/c/${id}/info`);
  }

  function tickEl(status: Tick | "queued" | "failed"): HTMLElement {
    const [glyph, label] = TICK_TEXT[status];
    return h("span", { class: `tick ${status}`, "aria-label": label, title: label, dataset: { status } }, glyph);
  }

  function bubble(c: ConversationState, m: Message, showSender: boolean): HTMLElement {
    const s = client.state;
    const mine = m.sender_id === s.me?.id;
    const tick = tickFor(s, c, m);
    const sender = s.users[String(m.sender_id)];
    const reactions = Object.entries(m.reactions ?? {}).filter(([, ids]) => ids.length > 0);
    const el = h(
      "div",
      { class: `msg ${mine ? "mine" : "theirs"}${m.deleted ? " deleted" : ""}${m.seq === focusSeq ? " hit" : ""}`, dataset: { id: String(m.id), seq: String(m.seq) } },
      showSender && !mine ? h("span", { class: "sender" }, sender?.display_name || sender?.username || `User ${m.sender_id}`) : null,
      m.reply_to && !m.deleted ? quoteView(s, m.reply_to, heldMessage(c, m.reply_to.id), () => void nav.jumpTo(m.reply_to!.seq)) : null,
      m.deleted ? null : attachmentsView(client, attachmentsOf(m), (e) => ctx.toast(errorText(e))),
      m.deleted || m.body ? h("p", { class: "body" }, m.deleted ? "This message was deleted" : bodyWithMentions(m)) : null,
      h("span", { class: "meta" },
        m.edited_at && !m.deleted ? h("span", { class: "edited" }, "edited") : null,
        h("time", { dateTime: m.created_at }, timeOf(m.created_at)),
        tick ? tickEl(tick) : null,
      ),
      reactions.length
        ? h("div", { class: "reactions" },
            reactions.map(([emoji, ids]) =>
              h("button", {
                type: "button",
                class: `reaction${s.me && ids.includes(s.me.id) ? " own" : ""}`,
                "aria-label": `${emoji} ${ids.length}, toggle`,
                on: { click: () => void client.toggleReaction(m, emoji).catch((e) => ctx.toast(errorText(e))) },
              }, `${emoji} ${ids.length}`),
            ))
        : null,
      m.deleted ? null : h("button", { type: "button", class: "more", "aria-label": "Message actions", on: { click: () => showActions(m) } }, "⋯"),
    );
    const row = h("div", { class: `row ${mine ? "mine" : "theirs"}` }, h("span", { class: "swipe-hint", "aria-hidden": "true" }, "↩"), el);
    if (!m.deleted) {
      attachLongPress(el, () => showActions(m));
      if (mayPost()) swipeToReply(row, el, () => input.startReply(m));
    }
    return row;
  }

  function heldMessage(c: ConversationState, messageId: number): Message | undefined {
    return c.messages.find((x) => x.id === messageId);
  }

  function mayPost(): boolean {
    const convObj = conv()?.conversation;
    const role = convObj?.roles?.[String(client.state.me?.id)];
    return convObj?.is_member !== false && !(convObj?.posting === "admins" && role === "member");
  }

  /** The body as text, the `@username` of each member the server counted as mentioned marked. */
  function bodyWithMentions(m: Message): (string | HTMLElement)[] {
    const s = client.state;
    return mentionSegments(m.body, m.mentions, (uid) => s.users[String(uid)]).map((seg) =>
      seg.mention === undefined ? seg.text : h("span", { class: `mention${seg.mention === s.me?.id ? " me" : ""}`, dataset: { userId: String(seg.mention) } }, seg.text),
    );
  }

  function queuedBubble(e: OutboxEntry): HTMLElement {
    const status = e.state === "failed" ? "failed" : "queued";
    return h("div", { class: "row mine" },
      h("div", { class: `msg mine pending ${status}`, dataset: { clientId: e.client_id } },
        e.reply_to ? quoteView(client.state, e.reply_to, conv() && heldMessage(conv()!, e.reply_to.id)) : null,
        pendingAttachmentsView(client, e, (key) => void client.cancelUpload(e.client_id, key).catch((err) => ctx.toast(errorText(err)))),
        e.body ? h("p", { class: "body" }, e.body) : null,
        h("span", { class: "meta" }, h("time", null, timeOf(e.created_at)), tickEl(status)),
        e.state === "failed" ? h("span", { class: "failed-text", title: e.error ?? "" }, failedText(e)) : null,
        e.state === "failed"
          ? h("span", { class: "failed-actions" },
              h("button", { type: "button", class: "link", on: { click: () => void client.retrySend(e.client_id) } }, "Retry"),
              h("button", { type: "button", class: "link", on: { click: () => void client.outbox.discard(e.client_id) } }, "Discard"),
            )
          : null,
      ),
    );
  }

  function showActions(m: Message) {
    const s = client.state;
    const c = conv();
    const role = c?.conversation?.roles?.[String(s.me?.id)];
    messageActions({
      mine: m.sender_id === s.me?.id,
      canDelete: m.sender_id === s.me?.id || role === "owner" || role === "admin",
      canReply: mayPost(),
      onReply: () => input.startReply(m),
      onReact: (emoji) => void client.toggleReaction(m, emoji).catch((e) => ctx.toast(errorText(e))),
      onEdit: () => input.startEditing(m),
      onDelete: () => void client.deleteMessage(m).catch((e) => ctx.toast(errorText(e))),
      onReport: () => reportSheet(ctx, m),
    });
  }

  function items(c: ConversationState): Item[] {
    const out: Item[] = [];
    let day = "";
    let prevSender = -1;
    const group = c.conversation?.type === "group";
    // Holes below the cursor are old history not loaded yet; one above it is a gap that sync is closing.
    const gaps = new Map(holes(c.messages).filter((g) => g.after < c.cursor).map((g) => [g.after, g]));
    for (const m of c.messages) {
      const d = dayKey(m.created_at);
      if (d !== day) {
        day = d;
        prevSender = -1;
        const label = dayLabel(m.created_at);
        out.push({ key: `day:${d}`, sig: label, build: () => h("div", { class: "day", role: "separator" }, h("span", null, label)) });
      }
      const showSender = group && m.sender_id !== prevSender;
      prevSender = m.sender_id;
      const tick = tickFor(client.state, c, m);
      // Names are in it: a rename (user:updated) redraws the bubbles and quotes that show it.
      const names = `${showSender ? senderName(client.state, m.sender_id) : ""}/${m.reply_to ? senderName(client.state, m.reply_to.sender_id) : ""}`;
      const sig = [m.body, m.edited_at, m.deleted, JSON.stringify(m.reactions), JSON.stringify(m.mentions ?? []), tick, showSender, JSON.stringify(m.reply_to ?? null), attachmentsOf(m).map((a) => a.id).join(","), names].join("|");
      out.push({ key: `m:${m.id}`, sig, build: () => bubble(c, m, showSender) });
      const gap = gaps.get(m.seq);
      if (gap) {
        prevSender = -1;
        out.push({ key: `hole:${gap.after}`, sig: `${gap.before}`, build: () => nav.holeMarker(gap) });
      }
    }
    for (const e of client.outbox.list(id)) {
      // Progress is not in the signature: bars move in place (updateProgress), bubbles stay.
      const files = (e.attachments ?? []).map((a) => `${a.key}:${a.upload?.id ?? ""}:${a.error ?? ""}`).join(",");
      out.push({ key: `q:${e.client_id}`, sig: `${e.state}|${e.error_code ?? ""}|${e.reply_to?.id ?? ""}|${files}`, build: () => queuedBubble(e) });
    }
    return out;
  }

  /** Keyed reconcile: only changed bubbles are rebuilt, so scrolling and focus survive updates. */
  function renderMessages(c: ConversationState) {
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    // Whatever is inserted above (older pages, a filled hole), the first visible row stays put.
    const anchor = prepending || !atBottom ? firstVisible() : null;
    const anchorTop = anchor?.getBoundingClientRect().top ?? 0;
    const list = items(c);
    const keep = new Set(list.map((i) => i.key));
    for (const [key, n] of nodes) {
      if (!keep.has(key)) {
        nav.removed(n.el);
        n.el.remove();
        nodes.delete(key);
      }
    }
    list.forEach((item, index) => {
      let n = nodes.get(item.key);
      if (!n || n.sig !== item.sig) {
        const el = item.build();
        if (n) n.el.replaceWith(el);
        n = { sig: item.sig, el };
        nodes.set(item.key, n);
      }
      const at = log.children[index];
      if (at !== n.el) log.insertBefore(n.el, at ?? null);
    });
    updateProgress(client, log);
    if (anchor?.isConnected) scroller.scrollTop += anchor.getBoundingClientRect().top - anchorTop;
    else if (atBottom) scroller.scrollTop = scroller.scrollHeight;
    lastScrollTop = scroller.scrollTop;
    if (atBottom && opened && document.visibilityState === "visible") void client.markRead(id);
  }

  function firstVisible(): HTMLElement | null {
    const top = scroller.getBoundingClientRect().top;
    for (const el of log.children) if ((el as HTMLElement).getBoundingClientRect().bottom > top) return el as HTMLElement;
    return null;
  }

  function update() {
    const s = client.state;
    const c = conv();
    if (!opened && !opening && !refused && s.connection === "connected") void open();
    if (!c) {
      title.textContent = "Conversation";
      subtitle.textContent = opened ? "You are no longer a member" : "Loading…";
      return;
    }
    const t = conversationTitle(s, c);
    title.textContent = t;
    document.title = document.title.replace(/^(\(\d+\) )?.*$/, `$1${t}`);
    const convObj = c.conversation;
    const notify = notificationState(convObj, Date.now());
    bell.textContent = notify.quiet ? "🔕" : "🔔";
    bell.title = notificationSummary(notify);
    bell.hidden = !convObj || convObj.is_member === false;
    if (s.connection !== "connected") {
      // Presence is stale while we are cut off: say so instead of showing old dots.
      subtitle.textContent = navigator.onLine ? "connecting…" : "waiting for network…";
      infoLink.hidden = convObj?.type !== "group";
    } else if (convObj?.type === "direct") {
      const p = peer();
      // Blocked either way, presence stops flowing: what is held would only go stale.
      subtitle.textContent = isDeletedUser(p) ? "account closed" : p && client.isBlocked(p.id) ? "blocked" : p?.online ? "online" : p?.last_seen_at ? `last seen ${shortWhen(p.last_seen_at)} ${timeOf(p.last_seen_at)}` : "offline";
      infoLink.hidden = true;
    } else if (convObj) {
      const online = convObj.members.filter((u) => s.users[String(u.id)]?.online).length;
      subtitle.textContent = `${convObj.members.length} members, ${online} online`;
      infoLink.hidden = false;
    }
    const member = convObj?.is_member !== false;
    const other = peer();
    const closed = isDeletedUser(other);
    const blockedPeer = other && (closed || client.isBlocked(other.id)) ? other : null;
    blocked.show(blockedPeer, closed);
    input.form.hidden = !member || Boolean(blockedPeer);
    joinBar.hidden = member;
    input.update(c, mayPost());
    avatarSlot.setAttribute("aria-label", other ? `Profile of ${other.display_name || other.username}` : "Group details");
    replace(avatarSlot, avatar(other?.id ?? c.id, t, s.connection === "connected" && other?.online && !blockedPeer, convObj?.type === "group"));
    renderMessages(c);
    renderTyping();
  }

  const unsubscribeOutbox = client.outbox.onChange(() => update());
  const unsubscribeUploads = client.uploads.onChange(() => updateProgress(client, log));
  void open();
  update();
  return {
    el: h("main", { class: "screen chat-screen" }, header, scroller, footer),
    update,
    destroy() {
      clearInterval(timer);
      nav.destroy();
      input.destroy();
      unsubscribeOutbox();
      unsubscribeUploads();
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}

/** "Couldn't send", and why when the server said something a person can act on. */
function failedText(e: OutboxEntry): string {
  if (e.error_code === "forbidden") return "Couldn't send: you can't message here";
  return "Couldn't send";
}

/** Long-press on touch opens the actions; desktop uses right-click or the ⋯ button. */
function attachLongPress(el: HTMLElement, fire: () => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cancel = () => clearTimeout(timer);
  el.addEventListener("pointerdown", (ev) => {
    if (ev.pointerType !== "touch") return;
    timer = setTimeout(fire, LONG_PRESS_MS);
  });
  el.addEventListener("pointerup", cancel);
  el.addEventListener("pointercancel", cancel);
  el.addEventListener("pointermove", cancel);
  el.addEventListener("contextmenu", (ev) => {
    ev.preventDefault();
    cancel();
    fire();
  });
}
