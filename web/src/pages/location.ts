/**
 * Reads what the watch page plays from its URL:
 * /watch/{stream}?proto=ws|webrtc|hls&target=seconds (the player's target
 * buffer ahead, for tuning and measurement; the player's default without it).
 * Pure, so it is unit-tested.
 */
import type { TransportChoice } from '../player/auto.js';
import type { TransportKind } from '../player/transport.js';

/** Transports this build of the player implements, best first. */
export const AVAILABLE_TRANSPORTS: readonly TransportKind[] = ['webrtc', 'ws', 'hls'];

export interface WatchTarget {
  /** The stream name (decoded). */
  stream: string;
  /** The transport to use: the one ?proto names, else 'auto' (the player picks). */
  transport: TransportChoice;
  /** What ?proto asked for, if anything (may be unavailable). */
  requested: string | undefined;
  /** A note for the viewer when the request could not be honoured. */
  note: string | undefined;
  /** ?target: the player's target buffer ahead, seconds (0 < target <= 10), if given. */
  targetLatency?: number;
}

/** Parses a watch page URL's path and query. */
export function parseWatchLocation(pathname: string, search: string, fallbackStream = 'demo'): WatchTarget {
  const m = /^\/watch\/(.+?)\/?$/.exec(pathname);
  let stream = fallbackStream;
  const q = new URLSearchParams(search);
  if (m && m[1]) {
    try {
      stream = decodeURIComponent(m[1]);
    } catch {
      stream = m[1];
    }
  } else if (q.get('stream')) {
    stream = q.get('stream')!;
  }
  const requested = q.get('proto') ?? undefined;
  let transport: TransportChoice = 'auto';
  let note: string | undefined;
  if (requested && requested !== 'auto') {
    if ((AVAILABLE_TRANSPORTS as readonly string[]).includes(requested)) transport = requested as TransportKind;
    else note = `transport "${requested}" is not available; choosing one automatically`;
  }
  const out: WatchTarget = { stream, transport, requested, note };
  const target = Number(q.get('target') ?? NaN);
  if (Number.isFinite(target) && target > 0 && target <= 10) out.targetLatency = target;
  return out;
}

/** Formats a number of bits per second as kbit/s. */
export function formatKbps(bps: number): string {
  return `${Math.round(bps / 1000).toLocaleString('en-US')} kbit/s`;
}

/** Formats seconds as whole milliseconds, or a dash for null. */
export function formatMs(seconds: number | null): string {
  return seconds === null || !Number.isFinite(seconds) ? '–' : `${Math.round(seconds * 1000)} ms`;
}

/**
 * The stream a page is about, from /{page}/{stream} or, as a fallback
 * (e.g. /assets/studio.html?stream=x), from ?stream=.
 */
export function pageStream(page: string, pathname: string, search: string, fallbackStream = 'demo'): string {
  const m = new RegExp(`^/${page}/(.+?)/?$`).exec(pathname);
  if (m && m[1]) {
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return m[1];
    }
  }
  return new URLSearchParams(search).get('stream') || fallbackStream;
}
