import { expect, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const SHOTS = join(HERE, "..", "screenshots");
mkdirSync(SHOTS, { recursive: true });

const run = Date.now().toString(36).slice(-6);
let n = 0;
export function uname(prefix: string): string {
  return `${prefix}_${run}_${++n}`;
}

export const PASSWORD = "password-123";

/** Documentation screenshots committed to the repo: viewport only, DPR 1. */
export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), animations: "disabled", caret: "hide" });
}

export async function newPhone(browser: Browser, opts: Parameters<Browser["newContext"]>[0] = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext(opts);
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("pageerror:", e.message));
  return { context, page };
}

export async function signUp(page: Page, username: string, display: string): Promise<void> {
  await page.goto("/");
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Display name (optional)").fill(display);
  await page.getByLabel("Password (8+ characters)").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page.getByRole("heading", { name: "Chats" })).toBeVisible();
  await waitConnected(page);
}

export async function signIn(page: Page, username: string): Promise<void> {
  await page.goto("/");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password (8+ characters)").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Chats" })).toBeVisible();
  await waitConnected(page);
}

export async function waitConnected(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-connection", "connected");
}

/** From the list: New -> search -> open the DM with `username`. */
export async function openDm(page: Page, username: string, display: string): Promise<void> {
  await page.getByRole("link", { name: "New conversation" }).click();
  await page.getByRole("searchbox", { name: "Message someone" }).fill(username);
  await page.getByRole("button", { name: `Message ${display} (@${username})` }).click();
  await expect(page.locator(".chat-title")).toHaveText(display);
}

export async function send(page: Page, text: string): Promise<void> {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

/** REST from the test process, for seeding (bearer token like a bot). */
export async function api(baseURL: string, method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(`${baseURL}/api/v1${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}
