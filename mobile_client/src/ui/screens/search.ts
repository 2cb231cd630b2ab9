import { SEARCH_MAX_CHARS, searchSnippet, type SearchResult, type SearchState } from "../../core/search";
import { conversationTitle } from "../../core/selectors";
import { avatar } from "../avatar";
import { errorText, type AppContext, type Screen } from "../context";
import { h, replace } from "../dom";
import { shortWhen, timeOf } from "../format";
import { senderName } from "../replies";

/** Typing pauses this long before the query is sent. */
const DEBOUNCE_MS = 250;
/** Load the next page when the end of the list gets this close. */
const MORE_MARGIN = "400px 0px";

/** The last query per scope, so coming back from a result shows the same results. */
const remembered = new Map<string, string>();

/** Signed out: the next account on this device starts with empty search boxes. */
export function forgetSearches(): void {
  remembered.clear();
}

/**
 * Message search, over every conversation (from the list) or inside one (from its header):
 * results as you type, newest first, with the sender, the conversation, the time and the
 * matched words marked; more pages as the list scrolls. A result opens the conversation at
 * that message, highlighted.
 */
export function searchScreen(ctx: AppContext, conversationId: number | null): Screen {
  const { client } = ctx;
  const scope = conversationId === null ? "all" : String(conversationId);
  const search = client.messageSearch(conversationId);
  let timer: ReturnType<typeof setTimeout> | undefined;

  const input = h("input", {
    id: "search-q",
    type: "search",
    autocomplete: "off",
    enterKeyHint: "search",
    "aria-label": "Search messages",
    on: { input: () => queue() },
  });
  const form = h("form", { class: "search-form", role: "search", on: { submit: (ev: Event) => (ev.preventDefault(), run()) } }, input);
  const scopeLine = h("p", { class: "search-scope muted" });
  const status = h("p", { class: "search-status muted", role: "status" });
  const error = h("p", { class: "error search-error", role: "alert" });
  const results = h("ul", { class: "search-results", "aria-label": "Search results" });
  const more = h("button", { type: "button", class: "btn search-more", hidden: true, on: { click: () => void search.more() } }, "Load more");
  const scroller = h("div", { class: "scroll" }, scopeLine, status, error, results, h("div", { class: "search-foot" }, more));
  // Infinite scroll: the "Load more" button loads itself as it comes near (and stays a button for keyboards).
  const watcher = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) void search.more();
  }, { root: scroller, rootMargin: MORE_MARGIN });
  watcher.observe(more);

  function queue() {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  }

  function run() {
    clearTimeout(timer);
    remembered.set(scope, input.value);
    void search.search(input.value);
  }

  function row(r: SearchResult): HTMLElement {
    const s = client.state;
    const m = r.message;
    const who = senderName(s, m.sender_id);
    const sender = s.users[String(m.sender_id)];
    const c = s.conversations[String(m.conversation_id)];
    const where = c ? conversationTitle(s, c) : "Conversation";
    const day = shortWhen(m.created_at);
    const time = timeOf(m.created_at);
    return h("li", null,
      h("a", { class: "search-hit", href: `#/c/${m.conversation_id}/m/${m.seq}`, dataset: { messageId: String(m.id) } },
        avatar(m.sender_id, sender?.display_name || who, false),
        h("span", { class: "hit-main" },
          h("span", { class: "hit-top" },
            h("span", { class: "hit-who" },
              h("strong", { class: "hit-sender" }, who),
              conversationId === null ? [" · ", h("span", { class: "hit-conv" }, where)] : null,
            ),
            h("time", { class: "hit-time", dateTime: m.created_at }, day === time ? time : `${day} ${time}`),
          ),
          h("span", { class: "hit-body" },
            searchSnippet(m.body, r.highlights ?? []).map((seg) => (seg.mark ? h("mark", null, seg.text) : seg.text)),
          ),
        ),
      ),
    );
  }

  function render(st: SearchState) {
    const q = st.q;
    error.textContent = !st.error
      ? ""
      : st.error.code === "validation_error" && [...q].length > SEARCH_MAX_CHARS
        ? `A search can be at most ${SEARCH_MAX_CHARS} characters (this one has ${[...q].length}).`
        : `Search failed: ${errorText(st.error)}`;
    if (!q) status.textContent = conversationId === null ? "Search your messages in every conversation" : "";
    else if (st.loading && st.results.length === 0) status.textContent = "Searching…";
    else if (st.answered && st.results.length === 0 && !st.error) status.textContent = `No messages match “${q}”`;
    else if (st.results.length) status.textContent = `${st.results.length}${st.next_cursor ? "+" : ""} result${st.results.length === 1 && !st.next_cursor ? "" : "s"}`;
    else status.textContent = "";
    replace(results, st.results.map(row));
    more.hidden = !st.next_cursor;
    more.disabled = st.loading;
    more.textContent = st.loading && st.results.length ? "Loading…" : "Load more";
  }

  function update() {
    const s = client.state;
    const c = conversationId === null ? undefined : s.conversations[String(conversationId)];
    const title = c ? conversationTitle(s, c) : "this conversation";
    input.placeholder = conversationId === null ? "Search messages" : `Search in ${title}`;
    replace(scopeLine, conversationId === null ? "All conversations" : ["In ", h("strong", null, title), " · ", h("a", { href: "#/search", on: { click: () => remembered.set("all", input.value) } }, "Search all conversations")]);
    // Names and titles in the rows follow renames.
    render(search.state);
  }

  const unsubscribe = search.onChange(render);
  input.value = remembered.get(scope) ?? "";
  update();
  if (input.value.trim()) run();
  const back = conversationId === null ? "#/" : `#/c/${conversationId}`;
  const el = h("main", { class: "screen search-screen" },
    h("header", { class: "bar" },
      h("a", { href: back, class: "btn back", "aria-label": conversationId === null ? "Back to conversations" : "Back to the conversation" }, "‹"),
      h("h1", { class: "sr-only" }, "Search"),
      form,
    ),
    scroller,
  );
  // The field is what this screen is for: focus it (app.ts focuses the heading on phones).
  setTimeout(() => input.focus({ preventScroll: true }), 0);
  return {
    el,
    update,
    destroy() {
      clearTimeout(timer);
      watcher.disconnect();
      unsubscribe();
    },
  };
}
