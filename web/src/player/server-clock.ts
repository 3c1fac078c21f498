/**
 * The server clock for transports without the WebSocket's ping/pong (WebRTC,
 * LL-HLS): their latency is the server's wall clock now minus a frame's
 * ingest wall clock (abs-capture-time, PROGRAM-DATE-TIME), so the player
 * needs the server's clock too.
 *
 * It asks `GET {base}/api/v1/time` for `{"serverTime": ms since the epoch}`
 * a few times and keeps the smallest round trip (ClockSync, as with pings).
 * Where that endpoint does not exist, it takes the local wall clock, which
 * is right when the viewer's and server's clocks are NTP-synchronised (and
 * exact when they share a machine), unless the response's HTTP Date header
 * shows a gross skew (more than skewToleranceMs), when it takes the Date
 * header, good to about half a second.
 */
import type { ClockSync } from './clock-sync.js';

export interface ServerClockOptions {
  /** Round trips to /api/v1/time. Default 3. */
  samples?: number;
  /** A Date header further than this from the local clock is believed instead of it, ms. Default 2000. */
  skewToleranceMs?: number;
  /** fetch (for tests). Default the global fetch. */
  fetch?: typeof fetch;
  /** Monotonic clock, ms. Default performance.now(). */
  now?: () => number;
  /** Local wall clock, ms since the epoch. Default Date.now(). */
  wallNow?: () => number;
}

/** Reads the time endpoint's body: {"serverTime": ms}. */
export function parseServerTime(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const t = (body as Record<string, unknown>)['serverTime'];
  return typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : undefined;
}

/**
 * The server wall clock to assume at the local wall clock localWallMs, from
 * an HTTP Date header (second resolution: its midpoint is taken): the local
 * clock if the header agrees with it within toleranceMs (or is missing),
 * else the header's.
 */
export function wallFromDateHeader(date: string | null, localWallMs: number, toleranceMs = 2000): number {
  const d = date ? Date.parse(date) : NaN;
  if (!Number.isFinite(d)) return localWallMs;
  const mid = d + 500;
  return Math.abs(mid - localWallMs) <= toleranceMs ? localWallMs : mid;
}

/** Feeds clock with samples of the server's clock. Never throws. */
export async function syncServerClock(baseURL: string, clock: ClockSync, opts: ServerClockOptions = {}): Promise<void> {
  const f = opts.fetch ?? fetch;
  const now = opts.now ?? (() => performance.now());
  const wallNow = opts.wallNow ?? (() => Date.now());
  const url = new URL('api/v1/time', baseURL.replace(/\/*$/, '/')).toString();
  // Until an answer, the local clock stands in (exact on one machine).
  clock.addCoarse(wallNow(), now());
  for (let i = 0; i < (opts.samples ?? 3); i++) {
    const sent = now();
    let res: Response;
    try {
      res = await f(url, { cache: 'no-store' });
    } catch {
      return;
    }
    const recv = now();
    if (!res.ok) {
      clock.addCoarse(wallFromDateHeader(res.headers.get('Date'), wallNow(), opts.skewToleranceMs), recv);
      return;
    }
    let t: number | undefined;
    try {
      t = parseServerTime(await res.json());
    } catch {
      t = undefined;
    }
    if (t === undefined) return;
    clock.addSample(sent, t, recv);
  }
}
