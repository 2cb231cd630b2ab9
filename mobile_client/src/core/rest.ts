import { ChatError } from "./errors";
import type { SearchPage, SearchQuery } from "./search";
import type { SettingsChange } from "./settings";
import type { AccountExport, BlocksAnswer, Conversation, Id, Message, ReportAnswer, Room, Token, User } from "./types";

/** The subset of fetch the client needs; inject RN's fetch, node's, or a test double. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ status: number; ok: boolean; text(): Promise<string> }>;

export interface RestOptions {
  /** Origin of the server, "" for same origin (the PWA). */
  baseUrl: string;
  fetch?: FetchLike;
  getToken: () => string | null;
}

export interface AuthResult {
  user: User;
  token: string;
}

export interface MessagePage {
  messages: Message[];
  has_more: boolean;
}

/** v2 `GET /push/config`: the VAPID key a browser passes to `PushManager.subscribe`. */
export interface PushConfig {
  webpush: { public_key: string };
}

/** v2 `POST /push/subscriptions`: a browser's Web Push subscription or a native app's FCM token. */
export type PushSubscriptionRequest =
  | { type: "webpush"; endpoint: string; keys: { p256dh: string; auth: string }; device_name?: string }
  | { type: "fcm"; token: string; device_name?: string };

/** A registered device, as the server lists it (the endpoint and keys are never echoed). */
export interface PushSubscriptionInfo {
  id: Id;
  type: "webpush" | "fcm";
  device_name: string | null;
  created_at: string;
}

/** REST client for /api/v1: bearer-token auth, the contract's error envelope mapped to ChatError. */
export class RestClient {
  private readonly fetchImpl: FetchLike;

  constructor(private readonly opts: RestOptions) {
    const f = opts.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!f) throw new Error("RestClient needs a fetch implementation");
    // Unbound window.fetch throws "Illegal invocation" in browsers.
    this.fetchImpl = opts.fetch ?? ((url, init) => f.call(globalThis, url, init));
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = this.opts.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await this.fetchImpl(`${this.opts.baseUrl}/api/v1${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ChatError("network", `Network error: ${(e as Error)?.message ?? e}`);
    }
    const text = await res.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!res.ok) throw ChatError.from(data, res.status);
    return data as T;
  }

  register(username: string, password: string, display_name?: string): Promise<AuthResult> {
    return this.request("POST", "/auth/register", { username, password, ...(display_name ? { display_name } : {}) });
  }
  login(username: string, password: string, device_name?: string): Promise<AuthResult> {
    return this.request("POST", "/auth/login", { username, password, ...(device_name ? { device_name } : {}) });
  }
  logout(): Promise<void> {
    return this.request("POST", "/auth/logout");
  }
  async me(): Promise<User> {
    return (await this.request<{ user: User }>("GET", "/me")).user;
  }
  async searchUsers(q: string, limit = 20): Promise<User[]> {
    const qs = `?q=${encodeURIComponent(q)}&limit=${limit}`;
    return (await this.request<{ users: User[] }>("GET", `/users${qs}`)).users;
  }
  listConversations(cursor?: string | null, limit = 50): Promise<{ conversations: Conversation[]; next_cursor: string | null }> {
    const qs = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    return this.request("GET", `/conversations${qs}`);
  }
  async getConversation(id: Id): Promise<Conversation> {
    return (await this.request<{ conversation: Conversation }>("GET", `/conversations/${id}`)).conversation;
  }
  async createDirect(user_id: Id): Promise<Conversation> {
    return (await this.request<{ conversation: Conversation }>("POST", "/conversations", { type: "direct", user_id }))
      .conversation;
  }
  async createGroup(
    name: string,
    member_ids: Id[],
    visibility: "private" | "public" = "private",
    posting: "all" | "admins" = "all",
  ): Promise<Conversation> {
    const body = { type: "group", name, member_ids, visibility, posting };
    return (await this.request<{ conversation: Conversation }>("POST", "/conversations", body)).conversation;
  }
  /** History page in ascending seq; `before` for older pages, nothing for the latest. */
  messages(id: Id, opts: { before?: number; after?: number; limit?: number } = {}): Promise<MessagePage> {
    const params = [`limit=${opts.limit ?? 50}`];
    if (opts.before !== undefined) params.push(`before=${opts.before}`);
    if (opts.after !== undefined) params.push(`after=${opts.after}`);
    return this.request("GET", `/conversations/${id}/messages?${params.join("&")}`);
  }
  /** `extra`: v2 `reply_to` (a message id of the same conversation) and `attachments` (upload ids; the body may then be empty). */
  async sendMessage(conversation_id: Id, body: string, client_id: string, extra: { reply_to?: Id | null; attachments?: Id[] } = {}): Promise<Message> {
    const path = `/conversations/${conversation_id}/messages`;
    return (await this.request<{ message: Message }>("POST", path, { body, client_id, ...extra })).message;
  }
  async editMessage(id: Id, body: string): Promise<Message> {
    return (await this.request<{ message: Message }>("PATCH", `/messages/${id}`, { body })).message;
  }
  /** v2: rename a group or change its settings (owner or admin). */
  async updateConversation(id: Id, changes: { name?: string; visibility?: "private" | "public"; posting?: "all" | "admins" }): Promise<Conversation> {
    return (await this.request<{ conversation: Conversation }>("PATCH", `/conversations/${id}`, changes)).conversation;
  }

  /** v2: the caller's notification level and mute in one conversation. */
  async updateSettings(id: Id, changes: SettingsChange): Promise<Conversation> {
    return (await this.request<{ conversation: Conversation }>("PATCH", `/conversations/${id}/settings`, changes)).conversation;
  }
  pushConfig(): Promise<PushConfig> {
    return this.request("GET", "/push/config");
  }
  /** 201 for a new device, 200 with the same id for one already registered (to anyone). */
  async subscribePush(sub: PushSubscriptionRequest): Promise<PushSubscriptionInfo> {
    return (await this.request<{ subscription: PushSubscriptionInfo }>("POST", "/push/subscriptions", sub)).subscription;
  }
  async pushSubscriptions(): Promise<PushSubscriptionInfo[]> {
    return (await this.request<{ subscriptions: PushSubscriptionInfo[] }>("GET", "/push/subscriptions")).subscriptions;
  }
  unsubscribePush(id: Id): Promise<void> {
    return this.request("DELETE", `/push/subscriptions/${id}`);
  }

  deleteMessage(id: Id): Promise<void> {
    return this.request("DELETE", `/messages/${id}`);
  }
  async react(id: Id, emoji: string): Promise<Message> {
    return (await this.request<{ message: Message }>("POST", `/messages/${id}/reactions`, { emoji })).message;
  }
  async unreact(id: Id, emoji: string): Promise<Message> {
    const path = `/messages/${id}/reactions/${encodeURIComponent(emoji)}`;
    return (await this.request<{ message: Message }>("DELETE", path)).message;
  }
  markRead(id: Id, seq: number): Promise<{ conversation_id: Id; last_read_seq: number; unread_count: number }> {
    return this.request("POST", `/conversations/${id}/read`, { seq });
  }
  async rooms(q = ""): Promise<Room[]> {
    return (await this.request<{ rooms: Room[] }>("GET", `/rooms${q ? `?q=${encodeURIComponent(q)}` : ""}`)).rooms;
  }
  async join(id: Id): Promise<Conversation> {
    return (await this.request<{ conversation: Conversation }>("POST", `/conversations/${id}/join`)).conversation;
  }
  async addMember(id: Id, user_id: Id): Promise<Conversation> {
    return (await this.request<{ conversation: Conversation }>("POST", `/conversations/${id}/members`, { user_id }))
      .conversation;
  }
  removeMember(id: Id, user_id: Id): Promise<void> {
    return this.request("DELETE", `/conversations/${id}/members/${user_id}`);
  }

  // ------------------------------------------------------------ v2: search

  /** Newest first; `next_cursor` null on the last page. `q` empty or over 200 characters: validation_error. */
  searchMessages(query: SearchQuery): Promise<SearchPage> {
    const params = [`q=${encodeURIComponent(query.q)}`, `limit=${query.limit ?? 20}`];
    if (query.conversation_id != null) params.push(`conversation_id=${query.conversation_id}`);
    if (query.cursor) params.push(`cursor=${encodeURIComponent(query.cursor)}`);
    return this.request("GET", `/search/messages?${params.join("&")}`);
  }

  // ------------------------------------------------------------ v2: account and safety

  /** The caller's display name; users who share a conversation get `user:updated`. */
  async updateMe(changes: { display_name: string }): Promise<User> {
    return (await this.request<{ user: User }>("PATCH", "/me", changes)).user;
  }
  /** 204; every other token of the user is revoked. A wrong current password is 403 forbidden. */
  changePassword(current_password: string, new_password: string): Promise<void> {
    return this.request("POST", "/auth/password", { current_password, new_password });
  }
  /** Closes the account (204). A wrong password is 403 forbidden. */
  deleteMe(password: string): Promise<void> {
    return this.request("DELETE", "/me", { password });
  }
  exportData(): Promise<AccountExport> {
    return this.request("GET", "/me/export");
  }
  /** The caller's logins (devices), `current` marking the one making the call. */
  async tokens(): Promise<Token[]> {
    return (await this.request<{ tokens: Token[] }>("GET", "/auth/tokens")).tokens;
  }
  revokeToken(id: Id): Promise<void> {
    return this.request("DELETE", `/auth/tokens/${id}`);
  }
  block(user_id: Id): Promise<void> {
    return this.request("POST", `/users/${user_id}/block`);
  }
  unblock(user_id: Id): Promise<void> {
    return this.request("DELETE", `/users/${user_id}/block`);
  }
  async blocks(): Promise<User[]> {
    return (await this.request<BlocksAnswer>("GET", "/me/blocks")).users;
  }
  /** 201 `{report: {id}}`; `reason` is 1-1000 characters. */
  async report(message_id: Id, reason: string): Promise<{ id: Id }> {
    return (await this.request<ReportAnswer>("POST", `/messages/${message_id}/report`, { reason })).report;
  }
}
