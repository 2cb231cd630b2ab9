/**
 * Exponential backoff with jitter : spreads reconnecting clients
 * so a server restart is not met by every phone at the same millisecond.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly minMs = 500,
    private readonly maxMs = 15_000,
    private readonly jitter = 0.5,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next attempt; grows 2x per call up to maxMs. */
  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** this.attempt);
    this.attempt++;
    // Between base * (1 - jitter) and base.
    return Math.round(base * (1 - this.jitter + this.random() * this.jitter));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
