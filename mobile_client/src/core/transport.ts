import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { ChatError } from "./errors";
import type { Ack, ServerEventName } from "./types";

export type IoFactory = (url: string, opts: Partial<ManagerOptions & SocketOptions>) => Socket;

export interface TransportOptions {
  /** Server origin; "" means same origin (the PWA). */
  baseUrl: string;
  getToken: () => string | null;
  /** Defaults to long-polling, upgraded to WebSocket where the network allows it. */
  transports?: string[];
  /** How long an ack may take before the emit counts as lost (the caller retries). */
  ackTimeoutMs?: number;
  io?: IoFactory;
  /** Extra socket.io-client options (e.g. reconnectionDelayMax in tests). */
  options?: Partial<ManagerOptions & SocketOptions>;
}

export interface TransportEvents {
  status: (status: "connecting" | "connected" | "disconnected", transport: string | null) => void;
  /** The server refused our token: the session is over, do not reconnect. */
  unauthorized: () => void;
}

/**
 * The /chat Socket.IO connection. Reconnection with exponential backoff and jitter is
 * socket.io's Manager (delay 0.5 s doubling to 10 s, ±50%).
 *
 * Transports: HTTP long-polling first, then the upgrade to WebSocket (socket.io's default
 * order). The handshake is one plain HTTPS request that every network lets through, and the
 * upgrade is probed beside a working connection, so a network that blocks WebSockets costs
 * nothing: a refused probe fails at once and one that hangs is simply never finished, while
 * `ready` has already arrived over polling. WebSocket first cost a whole connect timeout
 * (8 s + a reconnect delay: 9.5 s measured) on networks that drop the upgrade, and the
 * same on proxies that close it, because a close before the open is not an "error" that
 * `tryAllTransports` falls through on. Where WebSockets work the upgrade completes a
 * round trip after the handshake and the session runs on WebSocket as before.
 * `tryAllTransports` covers the opposite network (polling broken, WebSocket fine); a connect
 * timeout, the sign of a transport that hangs, swaps the order for the next attempt.
 */
export class Transport {
  readonly socket: Socket;
  private statusFns = new Set<TransportEvents["status"]>();
  private unauthorizedFns = new Set<TransportEvents["unauthorized"]>();
  private readonly ackTimeoutMs: number;
  private wanted = false;

  constructor(opts: TransportOptions) {
    const factory = opts.io ?? io;
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 10_000;
    this.socket = factory(`${opts.baseUrl}/chat`, {
      autoConnect: false,
      // A function, so every reconnection sends the current token.
      auth: (cb: (data: object) => void) => cb({ token: opts.getToken() ?? "" }),
      transports: opts.transports ?? ["polling", "websocket"],
      tryAllTransports: true,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 10_000,
      randomizationFactor: 0.5,
      timeout: 8_000,
      ...opts.options,
    });
    const s = this.socket;
    s.on("connect", () => {
      this.setStatus("connected");
      // Polling may upgrade to WebSocket later; report the new transport.
      const engine = (s.io as unknown as { engine?: { once(e: string, fn: () => void): void } }).engine;
      engine?.once("upgrade", () => s.connected && this.setStatus("connected"));
    });
    s.on("disconnect", (reason) => {
      this.setStatus("disconnected");
      // "io server disconnect" is not retried by socket.io (logout, or the server dropped
      // an oversized payload). Retry if we still want to be connected; a revoked token
      // then ends in connect_error "unauthorized".
      if (reason === "io server disconnect" && this.wanted) setTimeout(() => this.wanted && s.connect(), 1_000);
    });
    s.on("connect_error", (err: Error & { data?: { code?: string; error?: { code?: string } } }) => {
      const code = err.data?.code ?? err.data?.error?.code;
      if (code === "unauthorized") {
        this.wanted = false;
        this.setStatus("disconnected");
        for (const fn of this.unauthorizedFns) fn();
        return;
      }
      // A timeout means the first transport hung (an error would have fallen through to the
      // next one): lead with the other one next time. Refusals (server down) keep the order.
      const t = s.io.opts.transports as string[] | undefined;
      if (err.message === "timeout" && t && t.length === 2) s.io.opts.transports = [t[1], t[0]];
      this.setStatus(s.active ? "connecting" : "disconnected");
    });
    s.io.on("reconnect_attempt", () => this.setStatus("connecting"));
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** "websocket" or "polling": what the engine currently runs on. */
  get transportName(): string | null {
    const engine = (this.socket.io as unknown as { engine?: { transport?: { name?: string } } }).engine;
    return this.socket.connected ? (engine?.transport?.name ?? null) : null;
  }

  /**
   * Connects now. Called while socket.io is waiting out a reconnection delay (up to 15 s),
   * it cuts the wait short: the callers (the network is back, the app is in front again)
   * know better than the backoff that now is the moment to try. `_reconnecting` is the
   * Manager's own flag (not public API; tests/unit/transport.test.ts pins it).
   */
  connect(): void {
    this.wanted = true;
    if (this.socket.connected) return;
    const waiting = (this.socket.io as unknown as { _reconnecting?: boolean })._reconnecting;
    if (this.socket.active && waiting) this.socket.disconnect();
    this.setStatus("connecting");
    this.socket.connect();
  }

  disconnect(): void {
    this.wanted = false;
    this.socket.disconnect();
  }

  on(event: ServerEventName, fn: (payload: never) => void): void {
    this.socket.on(event, fn as (...args: unknown[]) => void);
  }

  onStatus(fn: TransportEvents["status"]): () => void {
    this.statusFns.add(fn);
    return () => this.statusFns.delete(fn);
  }

  onUnauthorized(fn: TransportEvents["unauthorized"]): () => void {
    this.unauthorizedFns.add(fn);
    return () => this.unauthorizedFns.delete(fn);
  }

  /**
   * Emits with an ack and resolves with the ack's fields. Refuses when disconnected instead
   * of letting socket.io buffer the packet: the outbox owns resending, and a buffered copy
   * would be sent again behind its back.
   */
  async request<T extends object>(event: string, payload: object, timeoutMs = this.ackTimeoutMs): Promise<T> {
    if (!this.socket.connected) throw new ChatError("disconnected", "Not connected");
    let ack: Ack<T>;
    try {
      ack = (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack<T>;
    } catch {
      throw new ChatError("timeout", `No ack for ${event} within ${timeoutMs} ms`);
    }
    if (!ack || typeof ack !== "object") throw new ChatError("internal", `Bad ack for ${event}`);
    if (ack.ok !== true) {
      const e = (ack as { error?: { code: string; message: string } }).error;
      throw new ChatError(e?.code ?? "internal", e?.message ?? `${event} failed`, 0, e ?? {});
    }
    return ack;
  }

  private setStatus(status: "connecting" | "connected" | "disconnected"): void {
    const name = status === "connected" ? this.transportName : null;
    for (const fn of this.statusFns) fn(status, name);
  }
}
