/**
 * Stall detection. A stall starts when the video element reports `waiting`
 * or when currentTime stops advancing for progressTimeoutMs while the player
 * expects it to move (started, not paused, not seeking, publisher live), and
 * ends when currentTime advances again. Pure: the caller passes the time.
 */
export interface StallDetectorOptions {
  /** No progress for this long counts as a stall, ms. Default 500. */
  progressTimeoutMs?: number;
}

export class StallDetector {
  private readonly progressTimeoutMs: number;
  private count = 0;
  private totalMs = 0;
  private stallStart: number | undefined;
  private lastTime: number | undefined;
  private lastProgressAt: number | undefined;
  private active = false;

  constructor(opts: StallDetectorOptions = {}) {
    this.progressTimeoutMs = opts.progressTimeoutMs ?? 500;
  }

  /** Whether a stall is in progress. */
  get stalled(): boolean {
    return this.stallStart !== undefined;
  }

  /** Number of stalls so far. */
  get stalls(): number {
    return this.count;
  }

  /** Total stalled time in seconds, including a stall in progress. */
  stallTime(now: number): number {
    return (this.totalMs + (this.stallStart === undefined ? 0 : Math.max(0, now - this.stallStart))) / 1000;
  }

  /** The video element fired `waiting` at currentTime. */
  onWaiting(now: number, currentTime: number): void {
    if (!this.active || this.stallStart !== undefined) return;
    this.begin(now);
    this.lastTime = currentTime;
  }

  /**
   * Called periodically (and on timeupdate) with whether playback is expected
   * to progress. Returns true when the stalled state changed.
   */
  update(now: number, currentTime: number, active: boolean): boolean {
    const wasStalled = this.stalled;
    if (!active) {
      this.active = false;
      this.end(now);
      this.lastTime = currentTime;
      this.lastProgressAt = undefined;
      return wasStalled !== this.stalled;
    }
    if (!this.active || this.lastProgressAt === undefined) {
      this.active = true;
      this.lastProgressAt = now;
      this.lastTime = currentTime;
      return wasStalled !== this.stalled;
    }
    if (this.lastTime === undefined || currentTime !== this.lastTime) {
      this.lastTime = currentTime;
      this.lastProgressAt = now;
      this.end(now);
    } else if (this.stallStart === undefined && now - this.lastProgressAt >= this.progressTimeoutMs) {
      this.begin(this.lastProgressAt);
    }
    return wasStalled !== this.stalled;
  }

  reset(): void {
    this.count = 0;
    this.totalMs = 0;
    this.stallStart = undefined;
    this.lastTime = undefined;
    this.lastProgressAt = undefined;
    this.active = false;
  }

  private begin(at: number): void {
    this.stallStart = at;
    this.count++;
  }

  private end(now: number): void {
    if (this.stallStart === undefined) return;
    this.totalMs += Math.max(0, now - this.stallStart);
    this.stallStart = undefined;
  }
}
