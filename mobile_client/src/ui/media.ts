import type { ChatClient } from "../core/client";

/**
 * Loading attachment bytes in the browser.
 *
 * `url` and `thumbnail_url` are authenticated like every request. An `<img src>` can only
 * send the cookie, which the server sets at sign-in; it is a session cookie, so after the
 * browser restarts the app is still signed in (the token is in IndexedDB) but the cookie is
 * gone. So: the plain `src` first (the browser's own cache and ETag revalidation, no bytes in
 * JS), and when that fails, the same URL fetched with the bearer token.
 * Downloads always go through the token (a link cannot tell a 401 from a file).
 *
 * Pictures made in the page are `data:` URLs, not `blob:` ones: the server's policy for the
 * app (chatapp/web/routes.py) allows `img-src 'self' data:` only. Local previews are drawn
 * small (PREVIEW_PX) for that reason and because a phone should not keep full-size copies of
 * every photo it sent in memory.
 */

/** Images fetched with the token, by URL, as data URLs (bounded: oldest dropped first). */
const viaToken = new Map<string, string>();
const VIA_TOKEN_MAX = 150;
/** Local previews of files picked on this device, by FileStore key and, once uploaded, by upload id. */
const previews = new Map<string, string>();
const PREVIEWS_MAX = 120;
/** The longest side of a local preview: sharp on a 2x screen at the bubble's 240 px. */
const PREVIEW_PX = 480;

function bounded(map: Map<string, string>, max: number): void {
  while (map.size > max) map.delete(map.keys().next().value!);
}

function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error ?? new Error("unreadable"));
    reader.readAsDataURL(blob);
  });
}

/**
 * A small picture of an image file and its size in pixels (orientation applied, as the server
 * does), or null for what the browser cannot decode (HEIC on most browsers: sent as a file).
 */
export async function makePreview(blob: Blob): Promise<{ url: string; width: number; height: number } | null> {
  if (typeof createImageBitmap !== "function") return null;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    return null;
  }
  const { width, height } = bitmap;
  const scale = Math.min(1, PREVIEW_PX / Math.max(width, height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  canvas.getContext("2d")?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return { url: canvas.toDataURL("image/jpeg", 0.82), width, height };
}

async function fetchBlob(client: ChatClient, url: string): Promise<Blob> {
  const token = client.token;
  const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, credentials: "same-origin" });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.blob();
}

/** Shows `url` in `img`: cookie first, the bearer token if that is refused. */
export function loadImage(client: ChatClient, img: HTMLImageElement, url: string): void {
  const known = viaToken.get(url);
  if (known) {
    img.src = known;
    return;
  }
  let retried = false;
  img.addEventListener("error", function onError() {
    if (retried) return;
    retried = true;
    img.removeEventListener("error", onError);
    void fetchBlob(client, url)
      .then(dataUrl)
      .then((src) => {
        viaToken.set(url, src);
        bounded(viaToken, VIA_TOKEN_MAX);
        img.src = src;
      })
      .catch(() => img.classList.add("broken"));
  });
  img.src = url;
}

/** Saves an attachment under its name: fetched with the token, handed to the browser as a download. */
export async function download(client: ChatClient, url: string, name: string): Promise<void> {
  saveBlob(await fetchBlob(client, url), name);
}

/** Hands bytes made or fetched in the page to the browser as a download named `name`. */
export function saveBlob(blob: Blob, name: string): void {
  const objectUrl = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = objectUrl;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started from the object URL; keep it alive a little for slow devices.
  setTimeout(() => URL.revokeObjectURL(objectUrl), 60_000);
}

/** A small picture of a pending file's bytes (from the FileStore), made once per key. */
export async function localPreview(client: ChatClient, key: string): Promise<string | null> {
  const held = previews.get(key);
  if (held) return held;
  const file = await client.uploads.file(key);
  if (!(file?.data instanceof Blob)) return null;
  const made = await makePreview(file.data);
  if (!made) return null;
  previews.set(key, made.url);
  bounded(previews, PREVIEWS_MAX);
  return made.url;
}

/**
 * Once uploaded, the local preview also answers for the upload's id: the sent bubble shows the
 * picture the sender already has while the server's thumbnail loads, with no blank flash.
 */
export function rememberPreview(key: string, uploadId: number): void {
  const url = previews.get(key);
  if (url) previews.set(`upload:${uploadId}`, url);
}

export function previewForUpload(uploadId: number): string | null {
  return previews.get(`upload:${uploadId}`) ?? null;
}

/** Sign-out: nothing of the previous account stays reachable. */
export function forgetMedia(): void {
  viaToken.clear();
  previews.clear();
}
