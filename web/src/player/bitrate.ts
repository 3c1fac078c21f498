/**
 * Received bitrate over a moving window. Pure: the caller passes the time.
 */
export class BitrateMeter {
  private readonly windowMs: number;
  private samples: { at: number; bytes: number }[] = [];
  private total = 0;
  private first: number | undefined;

  /** windowMs: the length of the moving window, default 2000 ms. */
  constructor(windowMs = 2000) {
    this.windowMs = windowMs;
  }

  /** Records bytes received at time now (ms). */
  add(now: number, bytes: number): void {
    if (this.first === undefined) this.first = now;
    this.samples.push({ at: now, bytes });
    this.total += bytes;
    this.expire(now);
  }

  /** Bits per second over the window ending at now (ms). */
  bitsPerSecond(now: number): number {
    this.expire(now);
    if (this.first === undefined) return 0;
    // Until a whole window has passed, divide by the time actually observed
    // (at least 250 ms, so the first message does not read as a huge rate).
    const span = Math.min(this.windowMs, Math.max(250, now - this.first));
    return (this.total * 8 * 1000) / span;
  }

  reset(): void {
    this.samples = [];
    this.total = 0;
    this.first = undefined;
  }

  private expire(now: number): void {
    let i = 0;
    while (i < this.samples.length && now - this.samples[i]!.at >= this.windowMs) {
      this.total -= this.samples[i]!.bytes;
      i++;
    }
    if (i > 0) this.samples.splice(0, i);
  }
}
