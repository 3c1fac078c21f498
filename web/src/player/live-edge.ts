/**
 * The live-edge controller: keeps the buffer ahead of the playhead
 * (bufferedEnd - currentTime) near a small target, so the picture stays as
 * close to live as the network allows without stalling.
 *
 *   ahead                        action
 *   -------------------------    ---------------------------------------------
 *   not in any range             seek into the newest range (first data, gaps)
 *   start window: raw ahead      seek to bufferedEnd - target at once (the rest
 *     > target + startSlack        of the cached GOP that came with the first data)
 *   smoothed > maxLag            seek to bufferedEnd - target (far behind)
 *   smoothed > target + tol.     speed up, proportionally, up to maxRate
 *   within target ± tolerance    1.0
 *   smoothed < target - tol.     slow down, proportionally, down to minRate
 *   < lowWater                   minRate (slow down instead of stalling)
 *
 * Start: a new viewer's first data begins at the stream's newest keyframe and
 * may hold up to a GOP of older frames. The first update seeks to the start
 * of the data (or close to its end, if all of it is there already), so the
 * first frame shows at once; as the rest of the burst lands, the controller
 * jumps straight to the live edge instead of catching up by rate over many
 * seconds: a seek inside a GOP costs Chromium a fast decode from the
 * keyframe. The start window opens at the first data and again at
 * restartWindow (a reconnect, which also begins at a keyframe).
 *
 * It is pure: the player passes a snapshot of the video element and the
 * time, and applies the returned action. Seeks land at
 * max(rangeStart, rangeEnd - target).
 */
import type { Range } from './timeline.js';

export interface LiveEdgeOptions {
  /** Target buffer ahead of the playhead, seconds. Default DEFAULT_TARGET (0.13). */
  target?: number;
  /** Within target ± tolerance the rate is 1.0, seconds. Default 0.02. */
  tolerance?: number;
  /** Fastest catch-up rate. Default 1.12. */
  maxRate?: number;
  /** Distance from the target (ahead - target) at which maxRate or minRate is reached, seconds. Default 0.25. */
  rampSeconds?: number;
  /** Slowest rate, when the buffer is nearly empty. Default 0.95. */
  minRate?: number;
  /** Below this buffer ahead, play at minRate, seconds. Default 0.4 × target. */
  lowWater?: number;
  /** Further behind than this, seek to the live edge, seconds. Default 1.5. */
  maxLag?: number;
  /** In the start window, more than target + startSlack ahead (raw, not smoothed) jumps to the live edge, seconds. Default 0.05. */
  startSlack?: number;
  /** The start window, from the first data (or restartWindow), ms. Default 3000. */
  startWindowMs?: number;
  /** Minimum time between two jumps in the start window, ms; none right after the first seek. Default 200. */
  startCooldownMs?: number;
  /** Minimum time between two seeks after the start window, ms. Default 1500. */
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
  /** Why, for debugging: start (first data), live (jump to the live edge in the start window), gap, behind, catchup, hold, slow (a little under target), low, idle. */
  reason: 'start' | 'live' | 'gap' | 'behind' | 'catchup' | 'hold' | 'slow' | 'low' | 'idle';
}

/**
 * The default target buffer ahead of the playhead, seconds, for video alone
 * (DEFAULT_AV_TARGET when the stream has audio). Measured with liveloop-g2g
 * on a loaded 2-core machine (x264 zerolatency, 30 fps, loopback): 0.1 gave
 * glass-to-glass ~76-95 ms but a few very short stalls (5-35 ms) in some
 * runs, at the first frame and now and then in steady playback; 0.13 gave
 * ~114 ms and none in 5 runs.
 */
export const DEFAULT_TARGET = 0.13;
/**
 * The default target for a stream with audio, seconds. Measured in Chromium
 * (liveloop-g2g, x264 zerolatency + AAC, 30 fps): with less than about 0.2 s
 * ahead of the playhead the audio renderer runs dry (the buffered range ends
 * where the audio does) and playback stalls every few seconds.
 */
export const DEFAULT_AV_TARGET = 0.2;

/** Slack when deciding whether currentTime is inside a range, seconds. */
const EPS = 0.05;
/** Jump a gap when this little is left before it, seconds. */
const GAP_JUMP_AHEAD = 0.3;

export class LiveEdgeController {
  private _target: number;
  private readonly tolerance: number;
  private readonly maxRate: number;
  private readonly rampSeconds: number;
  private readonly minRate: number;
  private lowWater: number;
  private readonly lowWaterOpt: number | undefined;
  private readonly maxLag: number;
  private readonly startSlack: number;
  private readonly startWindowMs: number;
  private readonly startCooldownMs: number;
  private readonly seekCooldownMs: number;
  private readonly smoothingMs: number;

  private smoothed: number | undefined;
  private lastNow: number | undefined;
  private lastSeekAt: number | undefined;
  private lastSeekReason: LiveEdgeAction['reason'] | undefined;
  private firstSeekAt: number | undefined;

  constructor(opts: LiveEdgeOptions = {}) {
    this._target = opts.target ?? DEFAULT_TARGET;
    this.tolerance = opts.tolerance ?? 0.02;
    this.maxRate = opts.maxRate ?? 1.12;
    this.rampSeconds = opts.rampSeconds ?? 0.25;
    this.minRate = opts.minRate ?? 0.95;
    this.lowWaterOpt = opts.lowWater;
    this.lowWater = opts.lowWater ?? 0.4 * this._target;
    this.maxLag = Math.max(opts.maxLag ?? 1.5, this._target + this.tolerance);
    this.startSlack = Math.max(opts.startSlack ?? 0.05, this.tolerance);
    this.startWindowMs = opts.startWindowMs ?? 3000;
    this.startCooldownMs = opts.startCooldownMs ?? 200;
    this.seekCooldownMs = opts.seekCooldownMs ?? 1500;
    this.smoothingMs = opts.smoothingMs ?? 300;
  }

  /** Target buffer ahead of the playhead, seconds. */
  get target(): number {
    return this._target;
  }

  /** Changes the target (e.g. once the player knows the stream's tracks), seconds. */
  setTarget(target: number): void {
    if (!(target > 0)) return;
    this._target = target;
    this.lowWater = this.lowWaterOpt ?? 0.4 * target;
  }

  /** Forgets history (after a reset of the media pipeline). */
  reset(): void {
    this.smoothed = undefined;
    this.lastNow = undefined;
    this.lastSeekAt = undefined;
    this.lastSeekReason = undefined;
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
    // The start window opens with the first data even when the playhead is
    // already in it (a stream whose timeline starts at 0) and needs no seek.
    if (this.firstSeekAt === undefined) this.firstSeekAt = s.now;
    const ahead = inRange[1] - s.currentTime;
    // Only the newest range is the live edge; data in an older range is
    // played out and the gap after it jumped.
    const liveAhead = last[1] - s.currentTime;
    const alpha = this.smoothed === undefined ? 1 : 1 - Math.exp(-dt / this.smoothingMs);
    this.smoothed = this.smoothed === undefined ? liveAhead : this.smoothed + alpha * (liveAhead - this.smoothed);
    const smoothedAhead = this.smoothed;

    if (s.seeking) {
      return { playbackRate: s.playbackRate, ahead, smoothedAhead, reason: 'idle' };
    }
    const inStart = this.firstSeekAt !== undefined && s.now - this.firstSeekAt < this.startWindowMs;
    if (inStart && inRange === last && liveAhead > this._target + this.startSlack) {
      // The rest of the keyframe's GOP (or a reconnect's resend) has landed:
      // go to the live edge now, even before playback has begun. Right after
      // the first seek there is no cooldown (the burst usually comes in two
      // appends: the keyframe, then the rest).
      const cooled = this.lastSeekAt === undefined || this.lastSeekReason === 'start' || s.now - this.lastSeekAt >= this.startCooldownMs;
      if (cooled) return this.seek(s, last, 'live');
    }
    if (s.paused) {
      return { playbackRate: s.playbackRate, ahead, smoothedAhead, reason: 'idle' };
    }
    const cooled = this.lastSeekAt === undefined || s.now - this.lastSeekAt >= (inStart ? this.startCooldownMs : this.seekCooldownMs);
    if (Math.min(smoothedAhead, liveAhead) > this.maxLag && cooled) {
      return this.seek(s, last, 'behind');
    }
    if (inRange !== last && (ahead < Math.max(this.lowWater, GAP_JUMP_AHEAD) || s.stalled)) {
      // About to run into a gap (or stuck at one): jump it now.
      return this.seek(s, last, 'gap');
    }
    let rate = 1;
    let reason: LiveEdgeAction['reason'] = 'hold';
    const excess = smoothedAhead - this._target;
    if (Math.min(smoothedAhead, ahead) < this.lowWater) {
      rate = this.minRate;
      reason = 'low';
    } else if (excess > this.tolerance) {
      // At least 1.01 (rates are rounded to 0.01), so it converges to the band.
      rate = Math.max(1.01, 1 + (this.maxRate - 1) * Math.min(1, excess / this.rampSeconds));
      reason = 'catchup';
    } else if (excess < -this.tolerance) {
      rate = Math.min(0.99, 1 - (1 - this.minRate) * Math.min(1, -excess / this.rampSeconds));
      reason = 'slow';
    }
    rate = Math.round(rate * 100) / 100;
    return { playbackRate: rate, ahead, smoothedAhead, reason };
  }

  private seek(s: PlaybackSnapshot, range: Range, reason: 'start' | 'live' | 'gap' | 'behind'): LiveEdgeAction {
    const to = Math.max(range[0], range[1] - this._target);
    this.lastSeekAt = s.now;
    this.lastSeekReason = reason;
    if (this.firstSeekAt === undefined) this.firstSeekAt = s.now;
    const ahead = range[1] - to;
    this.smoothed = ahead;
    return { seekTo: to, playbackRate: 1, ahead, smoothedAhead: ahead, reason };
  }
}
