/**
 * Exponential backoff with jitter for reconnects: 0.5 s, 1 s, 2 s, ... up to
 * 10 s by default, each delay scaled by a random factor in [1 - jitter, 1] so
 * that viewers dropped together do not return together.
 */
export interface BackoffOptions {
  /** First delay, ms. Default 500. */
  initialMs?: number;
  /** Largest delay, ms. Default 10 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay that is random, 0..1. Default 0.5. */
  jitter?: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private n = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 500;
    this.maxMs = opts.maxMs ?? 10_000;
    this.factor = opts.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
    this.random = opts.random ?? Math.random;
  }

  /** Attempts since the last reset. */
  get attempts(): number {
    return this.n;
  }

  /** The delay before the next attempt, ms; advances the attempt count. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, this.n));
    this.n++;
    return base * (1 - this.jitter * this.random());
  }

  /** Starts over from the initial delay (call once a connection is healthy). */
  reset(): void {
    this.n = 0;
  }
}
