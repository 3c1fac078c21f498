/**
 * The mapping from media time (seconds on the SourceBuffer's timeline, i.e.
 * video.currentTime) to the ingest wall clock, built from `prft` boxes, and
 * the latency computation of docs/ws-protocol.md: for the frame shown at
 * media time t, the newest prft at or before t gives wall clock W at media
 * time m; the frame was ingested at W + (t - m) * 1000, and the latency is the
 * estimated server time now minus that.
 */

export interface WallClockPoint {
  /** Media time on the SourceBuffer timeline, seconds. */
  mediaTime: number;
  /** Ingest wall clock at that media time, ms since the Unix epoch. */
  wallMs: number;
}

export class WallClockMap {
  private points: WallClockPoint[] = [];
  private readonly maxPoints: number;

  /** maxPoints bounds memory; the oldest points are dropped first. */
  constructor(maxPoints = 4096) {
    this.maxPoints = maxPoints;
  }

  get size(): number {
    return this.points.length;
  }

  /** Adds a point, keeping the points sorted by media time (a later point for the same media time wins). */
  add(mediaTime: number, wallMs: number): void {
    if (!Number.isFinite(mediaTime) || !Number.isFinite(wallMs)) return;
    const pts = this.points;
    const last = pts[pts.length - 1];
    if (!last || mediaTime > last.mediaTime) {
      pts.push({ mediaTime, wallMs });
    } else {
      const i = this.upperBound(mediaTime); // first index with mediaTime > t
      const prev = pts[i - 1];
      if (prev && prev.mediaTime === mediaTime) prev.wallMs = wallMs;
      else pts.splice(i, 0, { mediaTime, wallMs });
    }
    if (pts.length > this.maxPoints) pts.splice(0, pts.length - this.maxPoints);
  }

  /**
   * The ingest wall clock (ms) of media time t, from the newest point at or
   * before t; before the first point, extrapolated from it. Undefined when
   * the map is empty.
   */
  wallAt(t: number): number | undefined {
    if (this.points.length === 0 || !Number.isFinite(t)) return undefined;
    const i = this.upperBound(t);
    const p = this.points[Math.max(0, i - 1)]!;
    return p.wallMs + (t - p.mediaTime) * 1000;
  }

  /** Drops points older than t, keeping the newest point at or before t. */
  prune(t: number): void {
    const i = this.upperBound(t);
    if (i > 1) this.points.splice(0, i - 1);
  }

  clear(): void {
    this.points = [];
  }

  private upperBound(t: number): number {
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid]!.mediaTime <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Latency in seconds of the frame at media time t, given the estimated
 * server wall clock now (ms). Undefined when either input is unknown.
 */
export function latencySeconds(map: WallClockMap, t: number, serverNowMs: number | undefined): number | undefined {
  if (serverNowMs === undefined) return undefined;
  const ingested = map.wallAt(t);
  return ingested === undefined ? undefined : (serverNowMs - ingested) / 1000;
}

/** A buffered range [start, end) in seconds. */
export type Range = readonly [number, number];

/** Converts TimeRanges to an array of [start, end] pairs. */
export function toRanges(tr: TimeRanges): Range[] {
  const out: Range[] = [];
  for (let i = 0; i < tr.length; i++) out.push([tr.start(i), tr.end(i)]);
  return out;
}

/** The first media of a new connection, on the server's timeline. */
export interface FirstMedia {
  /** Decode time of the first fragment, seconds. */
  time: number;
  /** A prft of that connection's first media, if one came with it: its media time (seconds, server timeline) and wall clock (ms). */
  prft?: { mediaTime: number; wallMs: number };
}

/**
 * Chooses the SourceBuffer timestampOffset for a new connection.
 *
 * The protocol keeps decode times continuous for the life of a connection;
 * across connections the server's timeline usually continues too: the new
 * connection starts at the cached keyframe, a little before what is already
 * buffered (the overlap replaces the same frames), or later if time passed
 * (the gap is jumped). Then the current offset is kept. But a timeline that
 * restarted (a server restart, another node) would land on top of older
 * media; then the new media is shifted to start at the buffered end, so the
 * SourceBuffer's timeline never goes backwards.
 *
 * Media that lands inside what is buffered is a resend only if the wall
 * clock agrees: the buffered frame at that media time was ingested at the
 * same instant (within toleranceMs) as the new one. Without a prft to check,
 * up to backWindow seconds of overlap are taken as a resend.
 */
export function chooseTimestampOffset(
  first: FirstMedia,
  currentOffset: number,
  buffered: readonly Range[],
  wallAt: (t: number) => number | undefined,
  opts: { toleranceMs?: number; backWindow?: number } = {},
): number {
  const last = buffered[buffered.length - 1];
  if (!last) return currentOffset;
  const end = last[1];
  const at = first.time + currentOffset;
  if (at >= end - 0.25) return currentOffset;
  if (first.prft) {
    const t = first.prft.mediaTime + currentOffset;
    const known = wallAt(t);
    if (known !== undefined && Math.abs(known - first.prft.wallMs) <= (opts.toleranceMs ?? 1000)) return currentOffset;
  } else if (at >= end - (opts.backWindow ?? 10)) {
    return currentOffset;
  }
  return end - first.time;
}
