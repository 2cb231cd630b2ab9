import { ChatClient } from "../core/client";
import { openWebStore } from "../platform/idbCache";
import { WebStorage } from "../platform/webStorage";
import { xhrUploader } from "../platform/xhrUpload";
import { startApp } from "./app";
import "./styles.css";

/**
 * Browser entry: same-origin API and socket; session, outbox, pending attachments and the
 * offline cache in IndexedDB (localStorage and no cache where IndexedDB is refused).
 */
async function boot() {
  const web = await openWebStore().catch((e) => {
    console.warn("IndexedDB unavailable, no offline cache:", e);
    return null;
  });
  const client = new ChatClient({
    baseUrl: "",
    storage: web?.storage ?? new WebStorage(),
    cache: web?.cache ?? null,
    // Queued photos and files wait in IndexedDB (memory where it is refused); uploads report progress.
    files: web?.files,
    upload: xhrUploader,
  });
  (window as unknown as { chat: ChatClient }).chat = client; // handy in devtools and e2e
  const signedIn = await client.restore(); // fills the store from the cache: the list renders at once
  startApp(document.getElementById("app")!, client);
  performance.mark("chat:rendered"); // e2e reads it: page load to cached list on screen
  if (signedIn) client.connect();
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register("./sw.js").catch((e) => console.warn("service worker:", e));
  }
}

void boot();
