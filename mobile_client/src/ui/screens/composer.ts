import type { ConversationState } from "../../core/state";
import { LIMITS, type Message, type User } from "../../core/types";
import { attachTray } from "../attachTray";
import { errorText, type AppContext } from "../context";
import { h } from "../dom";
import { mentionPicker } from "../mentionPicker";
import { replyStrip } from "../replies";

/** After this long without a keystroke the typing indicator is turned off. */
const TYPING_IDLE_MS = 3_000;

export interface Composer {
  /** The parts, top to bottom: mention list, reply strip, attachment tray, edit banner, the form. */
  parts: HTMLElement[];
  form: HTMLFormElement;
  startEditing(m: Message): void;
  startReply(m: Message): void;
  /** Enabled or not, and the reply strip from the store. */
  update(c: ConversationState, posting: boolean): void;
  destroy(): void;
}

/**
 * The composer of one conversation: the text field (Enter sends, Shift+Enter a newline,
 * Escape cancels an edit or a reply), @ mentions, the 📎 button and its tray (paste and drop
 * too), the "Replying to" strip, editing, and the typing indicator it sends.
 */
export function composer(ctx: AppContext, id: number, members: () => User[], onSent: () => void): Composer {
  const { client } = ctx;
  let editing: Message | null = null;
  let typingIdle: ReturnType<typeof setTimeout> | undefined;

  const strip = replyStrip(() => client.cancelReply(id));
  const editBanner = h("div", { class: "edit-banner", hidden: true },
    h("span", null, "Editing message"),
    h("button", { type: "button", class: "link", on: { click: () => stopEditing() } }, "Cancel"),
  );
  const input = h("textarea", {
    id: "composer",
    rows: 1,
    maxLength: LIMITS.maxBodyChars,
    placeholder: "Message",
    "aria-label": "Message",
    enterKeyHint: "send",
    on: {
      input: () => onTyping(),
      keydown: (ev: KeyboardEvent) => {
        if (picker.onKey(ev)) return;
        if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          void submit();
        } else if (ev.key === "Escape" && editing) stopEditing();
        else if (ev.key === "Escape" && client.replyingTo(id)) client.cancelReply(id);
      },
    },
  });
  const picker = mentionPicker(input, members, () => client.state.me?.id);
  const tray = attachTray(() => input.focus(), (text) => ctx.toast(text));
  // Pasting or dropping files on the composer adds them like the 📎 button does.
  const addFiles = (ev: Event, files: File[]) => {
    if (files.length === 0 || editing) return;
    ev.preventDefault();
    tray.add(files);
  };
  input.addEventListener("paste", (ev: ClipboardEvent) => addFiles(ev, [...(ev.clipboardData?.files ?? [])]));
  input.addEventListener("dragover", (ev: DragEvent) => ev.dataTransfer?.types.includes("Files") && ev.preventDefault());
  input.addEventListener("drop", (ev: DragEvent) => addFiles(ev, [...(ev.dataTransfer?.files ?? [])]));
  const sendBtn = h("button", { type: "submit", class: "primary send", "aria-label": "Send" }, "Send");
  const form = h("form", { class: "composer", on: { submit: (ev: Event) => (ev.preventDefault(), void submit()) } }, tray.button, tray.input, input, sendBtn);

  async function submit() {
    const text = input.value;
    if (!text.trim() && (editing || tray.count === 0)) return;
    if (editing) {
      const m = editing;
      stopEditing();
      try {
        await client.editMessage(m.id, text);
      } catch (e) {
        ctx.toast(errorText(e));
      }
      input.focus();
      return;
    }
    input.value = "";
    picker.close();
    clearTimeout(typingIdle);
    client.setTyping(id, false);
    const files = await tray.take();
    try {
      await client.sendMessage(id, text, { replyTo: client.replyingTo(id), files });
      onSent();
    } catch (e) {
      // Refused before it was queued (too many files, too long): nothing is lost.
      if (!input.value) input.value = text;
      tray.restore(files);
      ctx.toast(errorText(e));
    }
    input.focus();
  }

  function onTyping() {
    if (editing) return;
    client.setTyping(id, input.value.length > 0);
    clearTimeout(typingIdle);
    typingIdle = setTimeout(() => client.setTyping(id, false), TYPING_IDLE_MS);
  }

  function stopEditing() {
    editing = null;
    tray.button.hidden = false;
    input.value = "";
    editBanner.hidden = true;
  }

  return {
    parts: [picker.el, strip.el, tray.el, editBanner, form],
    form,
    startEditing(m) {
      client.cancelReply(id);
      tray.button.hidden = true; // an edit changes the text only
      editing = m;
      input.value = m.body;
      editBanner.hidden = false;
      input.focus();
    },
    startReply(m) {
      if (editing) stopEditing();
      client.startReply(id, m);
      input.focus();
    },
    update(c, posting) {
      input.disabled = !posting;
      tray.button.disabled = !posting;
      input.placeholder = posting ? "Message" : "Only admins can post here";
      const replying = client.replyingTo(id);
      strip.show(client.state, posting ? replying : null, replying ? c.messages.find((m) => m.id === replying.id) : undefined);
    },
    destroy() {
      clearTimeout(typingIdle);
      client.setTyping(id, false);
      tray.clear();
    },
  };
}
