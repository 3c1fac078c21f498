/**
 * Timed metadata. A cue is stamped on the stream's media clock and fires
 * when the frame with that media time is shown, so every viewer sees it with
 * the picture whatever their latency. The scheduler is pure: the player asks
 * it which cues are due at the media time on screen.
 */

/** A cue as the player emits it (and the watch page re-dispatches it). */
export interface Cue {
  /** Unique id (duplicates are fired once). */
  id: string;
  /** Media time in seconds on the player's timeline (video.currentTime). */
  mediaTime: number;
  /** Application type, e.g. "poll.open". */
  type: string;
  /** Application payload. */
  payload: unknown;
}

export class CueScheduler {
  private pending: Cue[] = [];
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private readonly maxSeen: number;

  constructor(maxSeen = 1024) {
    this.maxSeen = maxSeen;
  }

  get size(): number {
    return this.pending.length;
  }

  /** Queues a cue; returns false for a duplicate id. */
  add(cue: Cue): boolean {
    if (this.seen.has(cue.id)) return false;
    this.seen.add(cue.id);
    this.seenOrder.push(cue.id);
    if (this.seenOrder.length > this.maxSeen) this.seen.delete(this.seenOrder.shift()!);
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.mediaTime > cue.mediaTime) i--;
    this.pending.splice(i, 0, cue);
    return true;
  }

  /**
   * Removes and returns, in media-time order, the cues due when the frame at
   * mediaTime is shown (a cue that arrived late fires at once).
   */
  due(mediaTime: number): Cue[] {
    let n = 0;
    while (n < this.pending.length && this.pending[n]!.mediaTime <= mediaTime) n++;
    return n === 0 ? [] : this.pending.splice(0, n);
  }

  /** Forgets pending cues (ids already seen stay seen). */
  clear(): void {
    this.pending = [];
  }
}
