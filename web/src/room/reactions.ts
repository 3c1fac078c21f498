/**
 * Reactions, both ways. Up: a viewer's taps are batched into one `react`
 * command per emoji per window (count at most 10), so tapping fast does not
 * spend the channel's command budget. Down: the server broadcasts each
 * window's aggregated counts ({"counts": {"🔥": 1234}}); they become a
 * bounded number of floating particles, growing with the logarithm of the
 * count, minus the viewer's own taps (already shown when tapped). Pure
 * (timers injected), so it is unit-tested.
 */

/** Particles for one emoji in one window, for a count n. */
export function particlesFor(n: number, maxPerEmoji = 12): number {
  if (!(n > 0)) return 0;
  if (n <= 3) return Math.floor(n);
  return Math.min(maxPerEmoji, 3 + Math.round(Math.log2(n / 3) * 2));
}

export interface Burst {
  emoji: string;
  /** Particles to float. */
  particles: number;
  /** The count the server reported (others' share). */
  count: number;
}

/**
 * Turns the server's windows of counts into bursts. The viewer's own taps
 * are subtracted (they were floated at once, when tapped), once each.
 */
export class BurstAggregator {
  private readonly own = new Map<string, number>();

  constructor(
    private readonly maxPerEmoji = 12,
    private readonly maxPerWindow = 30,
  ) {}

  /** The viewer tapped emoji n times (already shown locally). */
  local(emoji: string, n = 1): void {
    this.own.set(emoji, (this.own.get(emoji) ?? 0) + n);
  }

  /** A window's counts from the server: the bursts to show. */
  remote(counts: Record<string, number>): Burst[] {
    const out: Burst[] = [];
    for (const [emoji, raw] of Object.entries(counts)) {
      let n = Number.isFinite(raw) ? Math.max(0, Math.floor(raw)) : 0;
      const mine = this.own.get(emoji) ?? 0;
      if (mine > 0) {
        const take = Math.min(mine, n);
        n -= take;
        if (mine - take > 0) this.own.set(emoji, mine - take);
        else this.own.delete(emoji);
      }
      const particles = particlesFor(n, this.maxPerEmoji);
      if (particles > 0) out.push({ emoji, particles, count: n });
    }
    // Bound the whole window, biggest first, keeping at least one of each.
    out.sort((a, b) => b.count - a.count);
    let total = out.reduce((a, b) => a + b.particles, 0);
    for (let i = 0; total > this.maxPerWindow && i < out.length * this.maxPerEmoji; i++) {
      const b = out[i % out.length]!;
      if (b.particles > 1) {
        b.particles--;
        total--;
      }
    }
    return out;
  }

  /** Forgets own taps not echoed (e.g. after a reconnect). */
  reset(): void {
    this.own.clear();
  }
}

/**
 * Batches taps: the first tap of a window starts a timer; when it fires,
 * send() is called once per emoji with the count (at most max; the rest
 * carries over to the next window).
 */
export class TapBatcher {
  private readonly counts = new Map<string, number>();
  private timer: unknown = null;

  constructor(
    private readonly send: (emoji: string, count: number) => void,
    private readonly windowMs = 250,
    private readonly max = 10,
    private readonly setT: (fn: () => void, ms: number) => unknown = (fn, ms) => setTimeout(fn, ms),
  ) {}

  tap(emoji: string): void {
    this.counts.set(emoji, (this.counts.get(emoji) ?? 0) + 1);
    if (this.timer === null) this.timer = this.setT(() => this.flush(), this.windowMs);
  }

  flush(): void {
    this.timer = null;
    for (const [emoji, n] of [...this.counts]) {
      const c = Math.min(n, this.max);
      if (n - c > 0) this.counts.set(emoji, n - c);
      else this.counts.delete(emoji);
      this.send(emoji, c);
    }
    if (this.counts.size > 0) this.timer = this.setT(() => this.flush(), this.windowMs);
  }
}
