import type { Message, User } from "../../src/core/types";

/** Builders for protocol objects, so tests state only what they care about. */
export function user(id: number, extra: Partial<User> = {}): User {
  return { id, username: `u${id}`, display_name: `User ${id}`, online: false, last_seen_at: null, ...extra };
}

export function msg(id: number, seq: number, extra: Partial<Message> = {}): Message {
  return {
    id,
    conversation_id: 1,
    seq,
    sender_id: 2,
    body: `m${seq}`,
    client_id: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    edited_at: null,
    deleted: false,
    reactions: {},
    ...extra,
  };
}

type Handler = (...args: any[]) => void;

/**
 * A stand-in for socket.io-client's Socket: records emits, lets the test answer acks
 * (or drop them) and push server events.
 */
export class FakeSocket {
  connected = false;
  active = false;
  handlers = new Map<string, Handler[]>();
  managerHandlers = new Map<string, Handler[]>();
  emitted: { event: string; payload: any; ack: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  /** Auto-answer acks per event; return undefined to leave the ack pending. */
  responders: Record<string, (payload: any) => unknown> = {};
  io = {
    opts: { transports: ["websocket", "polling"] as string[] },
    engine: { transport: { name: "websocket" }, once: () => undefined },
    on: (ev: string, fn: Handler) => {
      this.managerHandlers.set(ev, [...(this.managerHandlers.get(ev) ?? []), fn]);
    },
  };
  constructor(
    public url: string,
    public opts: any,
  ) {}

  on(ev: string, fn: Handler) {
    this.handlers.set(ev, [...(this.handlers.get(ev) ?? []), fn]);
    return this;
  }
  fire(ev: string, ...args: unknown[]) {
    for (const fn of this.handlers.get(ev) ?? []) fn(...args);
  }
  connect() {
    this.active = true;
    return this;
  }
  /** Test helper: complete the connection like the server would. */
  open() {
    this.connected = true;
    this.fire("connect");
  }
  drop(reason = "transport close") {
    this.connected = false;
    this.fire("disconnect", reason);
  }
  disconnect() {
    this.active = false;
    this.connected = false;
    return this;
  }
  timeout(_ms: number) {
    return {
      emitWithAck: (event: string, payload: any) =>
        new Promise((resolve, reject) => {
          this.emitted.push({ event, payload, ack: resolve, reject });
          const r = this.responders[event];
          if (r) {
            const v = r(payload);
            if (v instanceof Error) reject(v);
            else if (v !== undefined) resolve(v);
          }
        }),
    };
  }
  sent(event: string) {
    return this.emitted.filter((e) => e.event === event);
  }
}

export function fakeIo() {
  const made: FakeSocket[] = [];
  const factory = (url: string, opts: any) => {
    const s = new FakeSocket(url, opts);
    made.push(s);
    return s as any;
  };
  return { factory, made };
}

export const flush = () => new Promise((r) => setTimeout(r, 0));
