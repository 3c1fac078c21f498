/**
 * LL-HLS timing, pure: media time ↔ ingest wall clock from
 * EXT-X-PROGRAM-DATE-TIME (deliver/llhls writes each segment's PDT from the
 * ingest clock of its first frame), the latency of the frame on screen,
 * and cues from EXT-X-DATERANGE tags of class urn:liveloop:cue (X-TYPE the
 * cue's type, X-DATA its payload as base64 JSON), placed on the media
 * timeline through the same mapping.
 */
import type { Cue } from './cues.js';

/** The DATERANGE class of Liveloop cues. */
export const CUE_CLASS = 'urn:liveloop:cue';

/** A segment as the playlist places it: start on the media timeline (s), duration (s), PDT (ms since the epoch) if any. */
export interface PdtSegment {
  start: number;
  duration: number;
  programDateTime: number | null | undefined;
}

/**
 * The ingest wall clock (ms) of media time t: the PDT of the last segment
 * starting at or before t, plus the time into it (before the first dated
 * segment, extrapolated from it). Undefined without a dated segment.
 * Segments are in playlist order.
 */
export function wallClockAt(segments: readonly PdtSegment[], t: number): number | undefined {
  if (!Number.isFinite(t)) return undefined;
  let best: PdtSegment | undefined;
  for (const s of segments) {
    if (!isDated(s)) continue;
    if (s.start <= t || !best) best = s;
    if (s.start > t) break;
  }
  return best ? best.programDateTime! + (t - best.start) * 1000 : undefined;
}

/**
 * The media time (s) of the ingest wall clock wallMs: the inverse of
 * wallClockAt, through the last dated segment whose PDT is at or before it.
 */
export function mediaTimeAt(segments: readonly PdtSegment[], wallMs: number): number | undefined {
  if (!Number.isFinite(wallMs)) return undefined;
  let best: PdtSegment | undefined;
  for (const s of segments) {
    if (!isDated(s)) continue;
    if (s.programDateTime! <= wallMs || !best) best = s;
    if (s.programDateTime! > wallMs) break;
  }
  return best ? best.start + (wallMs - best.programDateTime!) / 1000 : undefined;
}

/**
 * Latency in seconds of the frame at media time t, given the server's wall
 * clock now (ms): serverNow minus the ingest time of that frame.
 */
export function pdtLatency(segments: readonly PdtSegment[], t: number, serverNowMs: number | undefined): number | undefined {
  if (serverNowMs === undefined) return undefined;
  const w = wallClockAt(segments, t);
  return w === undefined ? undefined : (serverNowMs - w) / 1000;
}

function isDated(s: PdtSegment): boolean {
  return typeof s.programDateTime === 'number' && Number.isFinite(s.programDateTime) && Number.isFinite(s.start);
}

/** An EXT-X-DATERANGE as a player library exposes it (hls.js: DateRange). */
export interface DateRangeLike {
  id: string;
  /** CLASS, if any. */
  class?: string | undefined;
  /** START-DATE, ms since the epoch. */
  startDate: number;
  /** The tag's attributes by name (X-TYPE, X-DATA, ...), unquoted. */
  attr: Readonly<Record<string, unknown>>;
}

/**
 * The cue of a DATERANGE of class urn:liveloop:cue, at the media time of
 * its START-DATE; undefined for other classes or when the playlist has no
 * PDT to place it with. A payload that is not valid base64 JSON is null.
 */
export function dateRangeToCue(dr: DateRangeLike, segments: readonly PdtSegment[]): Cue | undefined {
  if (dr.class !== CUE_CLASS || !dr.id) return undefined;
  const mediaTime = mediaTimeAt(segments, dr.startDate);
  if (mediaTime === undefined) return undefined;
  const type = dr.attr['X-TYPE'];
  const data = dr.attr['X-DATA'];
  return {
    id: dr.id,
    mediaTime,
    type: typeof type === 'string' ? type : '',
    payload: typeof data === 'string' ? decodeXData(data) : null,
  };
}

/** Decodes X-DATA: base64 of UTF-8 JSON. Null when it is not. */
export function decodeXData(b64: string): unknown {
  try {
    const bin = atob(b64.trim());
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    return null;
  }
}
