import { formatSize } from "../core/attachments";
import { MAX_ATTACHMENTS } from "../core/client";
import type { LocalFile } from "../core/uploads";
import { h, replace } from "./dom";
import { makePreview } from "./media";

/**
 * What the file picker offers. No `capture`: on phones the chooser then offers the camera
 * *and* the photo library (and files); forcing `capture` would allow the camera only.
 */
export const ACCEPT = "image/*,video/*,application/pdf,*/*";

interface Picked {
  file: File;
  /** A small picture and the pixel size, for images the browser can decode. */
  preview: Promise<{ url: string; width: number; height: number } | null>;
}

/**
 * The composer's attach button and the tray of files picked for the next message (previews,
 * name, size, ✕), also filled by pasting or dropping files on the composer.
 */
export function attachTray(onChange: () => void, toast: (text: string) => void) {
  let picked: Picked[] = [];
  const input = h("input", {
    type: "file",
    accept: ACCEPT,
    multiple: true,
    class: "sr-only",
    tabIndex: -1,
    "aria-hidden": "true",
    on: {
      change: () => {
        add([...(input.files ?? [])]);
        input.value = ""; // picking the same file again fires change again
      },
    },
  });
  const button = h("button", { type: "button", class: "btn attach", "aria-label": "Attach a photo or file", on: { click: () => input.click() } }, "📎");
  const list = h("ul", { class: "tray", hidden: true, "aria-label": "Attachments to send" });

  function add(files: File[]) {
    const room = MAX_ATTACHMENTS - picked.length;
    if (files.length > room) toast(`At most ${MAX_ATTACHMENTS} attachments per message`);
    for (const file of files.slice(0, Math.max(0, room))) {
      picked.push({ file, preview: file.type.startsWith("image/") ? makePreview(file) : Promise.resolve(null) });
    }
    render();
    onChange();
  }

  function remove(p: Picked) {
    picked = picked.filter((x) => x !== p);
    render();
    onChange();
  }

  function render() {
    list.hidden = picked.length === 0;
    replace(list, picked.map((p) => {
      const thumb = h("span", { class: "tray-thumb file", "aria-hidden": "true" }, "📎");
      void p.preview.then((made) => made && thumb.replaceWith(h("img", { src: made.url, alt: "", class: "tray-thumb" })));
      return h("li", { class: "tray-item" },
        thumb,
        h("span", { class: "tray-text" }, h("span", { class: "tray-name" }, p.file.name), h("span", { class: "tray-size" }, formatSize(p.file.size))),
        h("button", { type: "button", class: "tray-remove", "aria-label": `Remove ${p.file.name}`, on: { click: () => remove(p) } }, "✕"),
      );
    }));
  }

  return {
    input,
    button,
    el: list,
    add,
    get count() {
      return picked.length;
    },
    /** The picked files as the core takes them (images measured first, for the queued bubble's shape). */
    async take(): Promise<LocalFile[]> {
      const taken = picked;
      picked = [];
      render();
      const out: LocalFile[] = [];
      for (const p of taken) {
        const size = await p.preview;
        out.push({ data: p.file, name: p.file.name, type: p.file.type || "application/octet-stream", size: p.file.size, width: size?.width ?? null, height: size?.height ?? null });
      }
      return out;
    },
    /** Puts files back after a send that was refused before queueing (too many, too large). */
    restore(files: LocalFile[]) {
      add(files.map((f) => f.data).filter((d): d is File => d instanceof File));
    },
    clear() {
      picked = [];
      render();
    },
  };
}

export type AttachTray = ReturnType<typeof attachTray>;
