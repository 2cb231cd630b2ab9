import type { Attachment } from "../core/attachments";
import { ChatError } from "../core/errors";
import { parseUploadAnswer, type UploadRequest, type Uploader } from "../core/uploads";

/**
 * The PWA's uploader: XMLHttpRequest, because it reports upload progress (`xhr.upload`
 * `progress` events) where fetch cannot, and aborts cleanly on cancel. The same code runs
 * in React Native, whose XMLHttpRequest has `upload.onprogress` too (there `data` is
 * `{uri, name, type}`, which RN's FormData accepts).
 */
export const xhrUploader: Uploader = (req: UploadRequest) =>
  new Promise<Attachment>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", req.url);
    xhr.setRequestHeader("Accept", "application/json");
    if (req.token) xhr.setRequestHeader("Authorization", `Bearer ${req.token}`);
    xhr.upload.addEventListener("progress", (ev) => req.onProgress(ev.loaded, ev.lengthComputable ? ev.total : req.file.size));
    xhr.addEventListener("load", () => {
      try {
        resolve(parseUploadAnswer(xhr.status, xhr.responseText, () => req.onProgress(req.file.size, req.file.size)));
      } catch (e) {
        reject(e instanceof Error ? e : new ChatError("internal", String(e)));
      }
    });
    // Offline, DNS, a reset connection: the request may or may not have arrived; an upload
    // that did is an orphan the server purges after 24 h, so trying again is safe.
    xhr.addEventListener("error", () => reject(new ChatError("network", "Network error during the upload")));
    xhr.addEventListener("timeout", () => reject(new ChatError("timeout", "The upload timed out")));
    xhr.addEventListener("abort", () => reject(new ChatError("cancelled", "Upload cancelled")));
    req.signal.onCancel(() => xhr.abort());
    if (req.signal.cancelled) {
      reject(new ChatError("cancelled", "Upload cancelled"));
      return;
    }
    const form = new FormData();
    form.append("file", req.file.data as Blob, req.file.name);
    xhr.send(form);
  });
