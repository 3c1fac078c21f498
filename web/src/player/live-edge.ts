/**
 * The live-edge controller: keeps the buffer ahead of the playhead
 * (bufferedEnd - currentTime) near a small target, so the picture stays as
 * close to live as the network allows without stalling.
 *
 *   ahead (smoothed)        action
 *   ------------------      -------------------------------------------------
 *   not in any range        seek into the newest range (first data, gaps)
 *   > maxLag                seek to bufferedEnd - target (far behind)
 *   > target + tolerance    speed up, proportionally, up to maxRate
 *   within the tolerance    1.0
 *   < lowWater              minRate (slow down a little instead of stalling)
 *
 * It is pure: the player passes a snapshot of the video element and the
 * time, and applies the returned action. Seeks land at
 * max(rangeStart, rangeEnd - target); in Chromium a seek into the middle of
 * a GOP decodes from the preceding keyframe.
 */
import type { Range } from './timeline.js';

export interface LiveEdgeOptions {
  /** Target buffer ahead of the playhead, seconds. Default 0.15. */
  target?: number;
  /** Within target ± tolerance the rate is 1.0, seconds. Default 0.05. */
  tolerance?: number;
  /** Fastest catch-up rate. Default 1.12. */
  maxRate?: number;
  /** Excess (ahead - target) at which maxRate is reached, seconds. Default 0.5. */
  rampSeconds?: number;
  /** Rate when the buffer is nearly empty. Default 0.95. */
  minRate?: number;
  /** Below this buffer ahead, play at minRate, seconds. Default 0.4 × target. */
  lowWater?: number;
  /** Further behind than this, seek to the live edge, seconds. Default 1.5. */
  maxLag?: number;
  /** maxLag during the first startWindowMs after the first seek (catch the end of the GOP burst). Default 0.5. */
  startMaxLag?: number;
  /** See startMaxLag, ms. Default 4000. */
  startWindowMs?: number;
  /** Minimum time between two seeks, ms (a third of it in the start window). Default 1500. */
  seekCooldownMs?: number;
  /** Time constant of the smoothing of "ahead", ms. Default 300. */
  smoothingMs?: number;
}

/** What the controller needs to know about the video element. */
export interface PlaybackSnapshot {
  /** Monotonic time, ms. */
  now: number;
  currentTime: number;
  buffered: readonly Range[];
  paused: boolean;
  seeking: boolean;
  playbackRate: number;
  /** Whether playback is stalled (the player's stall detector says so). */
  stalled?: boolean;
}

export interface LiveEdgeAction {
  /** Seek here (seconds), if set. */
  seekTo?: number;
  /** The playback rate to set. */
  playbackRate: number;
  /** Raw buffer ahead of the playhead, seconds (0 outside buffered ranges). */
  ahead: number;
  /** Smoothed buffer ahead, seconds. */
  smoothedAhead: number;
  /** Why, for debugging: start, gap, behind, catchup, hold, low, idle. */
  reason: 'start' | 'gap' | 'behind' | 'catchup' | 'hold' | 'low' | 'idle';
}

/** Slack when deciding whether currentTime is inside a range, seconds. */
const EPS = 0.05;
/** Jump a gap when this little is left before it, seconds. */
const GAP_JUMP_AHEAD = 0.3;

export class LiveEdgeController {
  readonly target: number;
  private readonly tolerance: number;
  private readonly maxRate: number;
  private readonly rampSeconds: number;
  private readonly minRate: number;
  private readonly lowWater: number;
  private readonly maxLag: number;
  private readonly startMaxLag: number;
  private readonly startWindowMs: number;
  private readonly seekCooldownMs: number;
  private readonly smoothingMs: number;

  private smoothed: number | undefined;
  private lastNow: number | undefined;
  private lastSeekAt: number | undefined;
  private firstSeekAt: number | undefined;

  constructor(opts: LiveEdgeOptions = {}) {
    this.target = opts.target ?? 0.15;
    this.tolerance = opts.tolerance ?? 0.05;
    this.maxRate = opts.maxRate ?? 1.12;
    this.rampSeconds = opts.rampSeconds ?? 0.5;
    this.minRate = opts.minRate ?? 0.95;
    this.lowWater = opts.lowWater ?? 0.4 * this.target;
    this.maxLag = Math.max(opts.maxLag ?? 1.5, this.target + this.tolerance);
    this.startMaxLag = Math.max(opts.startMaxLag ?? 0.5, this.target + this.tolerance);
    this.startWindowMs = opts.startWindowMs ?? 4000;
    this.seekCooldownMs = opts.seekCooldownMs ?? 1500;
    this.smoothingMs = opts.smoothingMs ?? 300;
  }

  /** Forgets history (after a reset of the media pipeline). */
  reset(): void {
    this.smoothed = undefined;
    this.lastNow = undefined;
    this.lastSeekAt = undefined;
    this.firstSeekAt = undefined;
  }

  /**
   * Opens the start window again at now (ms): after a reconnect the server
   * resends from its last keyframe, and a backlog above startMaxLag is
   * jumped rather than played out fast.
   */
  restartWindow(now: number): void {
    this.firstSeekAt = now;
  }

  /** Decides what to do now. */
  update(s: PlaybackSnapshot): LiveEdgeAction {
    const ranges = s.buffered;
    const last = ranges[ranges.length - 1];
    const dt = this.lastNow === undefined ? 0 : Math.max(0, s.now - this.lastNow);
    this.lastNow = s.now;
    if (!last) {
      this.smoothed = undefined;
      return { playbackRate: 1, ahead: 0, smoothedAhead: 0, reason: 'idle' };
    }
    const inRange = ranges.find(([a, b]) => s.currentTime >= a - EPS && s.currentTime < b);
    if (!inRange) {
      // Outside the buffered data: the first data, a gap, or a timeline that
      // moved. Jump into the newest range, unless a seek is already on its way
      // or the newest range is behind us and we are merely waiting for data.
      const behindAll = s.currentTime >= last[1] - EPS;
      if (s.seeking || behindAll) {
        return { playbackRate: s.seeking ? s.playbackRate : 1, ahead: 0, smoothedAhead: 0, reason: 'idle' };
      }
      return this.seek(s, last, this.firstSeekAt === undefined ? 'start' : 'gap');
    }
    const ahead = inRange[1] - s.currentTime;
    // Only the newest range is the live edge; data in an older range is
    // played out and the gap after it jumped.
    const liveAhead = last[1] - s.currentTime;
    const alpha = this.smoothed === undefined ? 1 : 1 - Math.exp(-dt / this.smoothingMs);
    this.smoothed = this.smoothed === undefined ? liveAhead : this.smoothed + alpha * (liveAhead - this.smoothed);
    const smoothedAhead = this.smoothed;

    if (s.seeking || s.paused) {
      return { playbackRate: s.playbackRate, ahead, smoothedAhead, reason: 'idle' };
    }
    const inStart = this.firstSeekAt !== undefined && s.now - this.firstSeekAt < this.startWindowMs;
    const lag = inStart ? this.startMaxLag : this.maxLag;
    const cooldown = inStart ? this.seekCooldownMs / 3 : this.seekCooldownMs;
    const cooled = this.lastSeekAt === undefined || s.now - this.lastSeekAt >= cooldown;
    if (Math.min(smoothedAhead, liveAhead) > lag && cooled) {
      return this.seek(s, last, 'behind');
    }
    if (inRange !== last && (ahead < Math.max(this.lowWater, GAP_JUMP_AHEAD) || s.stalled)) {
      // About to run into a gap (or stuck at one): jump it now.
      return this.seek(s, last, 'gap');
    }
    let rate = 1;
    let reason: LiveEdgeAction['reason'] = 'hold';
    const excess = smoothedAhead - this.target;
    if (Math.min(smoothedAhead, ahead) < this.lowWater) {
      rate = this.minRate;
      reason = 'low';
    } else if (excess > this.tolerance) {
      rate = 1 + (this.maxRate - 1) * Math.min(1, excess / this.rampSeconds);
      reason = 'catchup';
    }
    rate = Math.round(rate * 100) / 100;
    return { playbackRate: rate, ahead, smoothedAhead, reason };
  }

  private seek(s: PlaybackSnapshot, range: Range, reason: 'start' | 'gap' | 'behind'): LiveEdgeAction {
    const to = Math.max(range[0], range[1] - this.target);
    this.lastSeekAt = s.now;
    if (this.firstSeekAt === undefined) this.firstSeekAt = s.now;
    const ahead = range[1] - to;
    this.smoothed = ahead;
    return { seekTo: to, playbackRate: 1, ahead, smoothedAhead: ahead, reason };
  }
}
