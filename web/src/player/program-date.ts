/**
 * LL-HLS timing, pure: media time ↔ ingest wall clock from
 * EXT-X-PROGRAM-DATE-TIME (deliver/llhls writes each segment's PDT from the
 * ingest clock of its first frame), the latency of the frame on screen,
 * and cues from EXT-X-DATERANGE tags of class urn:liveloop:cue (X-TYPE the
 * cue's type, X-DATA its payload as base64 JSON), placed on the media
 * timeline through the same mapping.
 *
 * deliver/llhls dates a cue through the segment it falls in: START-DATE is
 * that segment's PDT plus the cue's time into it. A player's own idea of
 * where a segment starts (hls.js: the playlist's durations, until it has
 * parsed the segment) can be off by tens of milliseconds, and a PDT
 * extrapolated over a segment not yet listed by the ingest clock's jitter;
 * placeDateRange therefore places a cue only through the segment that
 * holds it, once the player knows that segment's true start.
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
  const c = cueOf(dr);
  return { id: c.id, mediaTime, type: c.type, payload: c.payload };
}

/**
 * PDT and START-DATE have millisecond precision: the frame a cue was
 * stamped on may be up to a millisecond before where its dates put it, so
 * placeDateRange places cues this much earlier (seconds). Frames are tens of
 * milliseconds apart: no earlier frame comes that close.
 */
export const DATE_PRECISION = 0.001;

/** A segment for placeDateRange: a PdtSegment with what the player has parsed of it. */
export interface ParsedSegment extends PdtSegment {
  /** Its true start on the media timeline (its first frame's presentation time), once the player has parsed it. */
  parsedStart?: number | undefined;
}

/**
 * The cue of a DATERANGE of class urn:liveloop:cue placed exactly: at the
 * parsed start of the segment it falls in (the last dated segment whose PDT
 * is at or before START-DATE) plus START-DATE minus that PDT. null when it
 * is not a cue; undefined when it cannot be placed yet: no dated segment at
 * or before it, its segment not parsed yet, or it lies past the end of the
 * last segment listed (its own segment is not listed yet). Segments are in
 * playlist order; the last may be the one being written (its duration that
 * of its parts listed so far).
 */
export function placeDateRange(dr: DateRangeLike, segments: readonly ParsedSegment[]): Cue | null | undefined {
  if (dr.class !== CUE_CLASS || !dr.id || !Number.isFinite(dr.startDate)) return null;
  let at = -1;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (isDated(s) && s.programDateTime! <= dr.startDate) at = i;
  }
  if (at < 0) return undefined;
  const seg = segments[at]!;
  const into = (dr.startDate - seg.programDateTime!) / 1000;
  if (at === segments.length - 1 && into >= seg.duration) return undefined;
  if (seg.parsedStart === undefined || !Number.isFinite(seg.parsedStart)) return undefined;
  return { ...cueOf(dr), mediaTime: seg.parsedStart + into - DATE_PRECISION };
}

function cueOf(dr: DateRangeLike): Omit<Cue, 'mediaTime'> {
  const type = dr.attr['X-TYPE'];
  const data = dr.attr['X-DATA'];
  return {
    id: dr.id,
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

/** hls.js's initPTS of a discontinuity: its media timeline is the fMP4's decode times minus baseTime / timescale. */
export interface InitPts {
  baseTime: number;
  timescale: number;
}

/** A segment as hlsStreamTime needs it: its start on the player's media timeline (s) and its discontinuity sequence. */
export interface CcSegment {
  start: number;
  cc: number;
}

/**
 * The time on the stream's timeline (the fMP4's tfdt: the hub's
 * presentation times, the clock cues and chat messages are stamped on) of
 * media time t on hls.js's timeline. hls.js (passthrough remuxer) keeps the
 * fMP4 times and appends each fragment with the SourceBuffer's
 * timestampOffset at minus the initPTS of its discontinuity (cc), found
 * from the first fragment it parsed of it (INIT_PTS_FOUND), so the stream
 * time is t plus that initPTS in seconds. The cc is that of the segment
 * holding t (the last starting at or before it; before the first listed,
 * the first's); without one, or without an initPTS for it, the newest
 * initPTS known is used. Undefined without any initPTS.
 */
export function hlsStreamTime(t: number, segments: readonly CcSegment[], initPts: readonly (InitPts | null | undefined)[], newest?: number): number | undefined {
  if (!Number.isFinite(t)) return undefined;
  let cc: number | undefined;
  for (const s of segments) {
    if (s.start <= t || cc === undefined) cc = s.cc;
    if (s.start > t) break;
  }
  let p = cc !== undefined ? initPts[cc] : undefined;
  if (!validPts(p) && newest !== undefined) p = initPts[newest];
  if (!validPts(p)) {
    for (let i = initPts.length - 1; i >= 0 && !validPts(p); i--) p = initPts[i];
  }
  return validPts(p) ? t + p.baseTime / p.timescale : undefined;
}

function validPts(p: InitPts | null | undefined): p is InitPts {
  return !!p && Number.isFinite(p.baseTime) && p.timescale > 0;
}
