import type { ErrorBody } from "./types";

/**
 * One error type for REST and socket failures, carrying the contract's code.
 * `network` and `timeout` are client-side codes: the request may or may not have
 * reached the server, so callers must retry idempotently (same client_id).
 */
export class ChatError extends Error {
  readonly code: string;
  readonly status: number;
  readonly fields?: Record<string, string>;
  readonly retryAfter?: number;

  constructor(code: string, message: string, status = 0, extra: Partial<ErrorBody> = {}) {
    super(message);
    this.name = "ChatError";
    this.code = code;
    this.status = status;
    this.fields = extra.fields;
    this.retryAfter = extra.retry_after;
  }

  static from(body: unknown, status = 0): ChatError {
    const err = (body as { error?: ErrorBody } | null)?.error;
    if (err && typeof err.code === "string") {
      return new ChatError(err.code, err.message ?? err.code, status, err);
    }
    return new ChatError(status >= 500 ? "internal" : "unknown", `HTTP ${status}`, status);
  }
}

/** Errors after which resending the same request can succeed. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ChatError)) return true;
  return ["network", "timeout", "unavailable", "internal", "rate_limited", "disconnected"].includes(err.code);
}
