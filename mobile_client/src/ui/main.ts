import { ChatClient } from "../core/client";
import { WebStorage } from "../platform/webStorage";
import { startApp } from "./app";
import "./styles.css";

/** Browser entry: same-origin API and socket, localStorage-backed session and outbox. */
async function boot() {
  const client = new ChatClient({ baseUrl: "", storage: new WebStorage() });
  (window as unknown as { chat: ChatClient }).chat = client; // handy in devtools and e2e
  const signedIn = await client.restore();
  startApp(document.getElementById("app")!, client);
  if (signedIn) client.connect();
  if ("serviceWorker" in navigator && location.protocol !== "file:") {
    navigator.serviceWorker.register("./sw.js").catch((e) => console.warn("service worker:", e));
  }
}

void boot();
