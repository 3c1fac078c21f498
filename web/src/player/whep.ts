/**
 * The pure parts of a WHEP client (draft-ietf-wish-whep): the endpoint URL
 * of a stream, the reading of the server's answer to an offer (status and
 * JSON error body to a stable error code, the session's Location resolved
 * against the endpoint), and the abs-capture-time clock (NTP epoch) to the
 * Unix epoch. The I/O is in webrtc-transport.ts.
 *
 * The server's errors (deliver/whep) are JSON {"error": code, "message"}:
 *
 *   400 bad_sdp, 404 not_found (no such live stream), 406
 *   no_compatible_codec, 415 unsupported_media_type, 503 shutting_down
 *
 * Each WhepError says whether another transport may succeed where WHEP did
 * not (`fallback`): a stream that is not live is not live over WebSocket
 * either, but a codec WebRTC cannot carry, or a server without WHEP, is.
 */

/** Milliseconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

/** The WHEP endpoint of a stream: {base}/whep/{stream} (the name may contain '/'). */
export function whepURL(baseURL: string, stream: string): string {
  const u = new URL(baseURL);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  const base = u.pathname.replace(/\/+$/, '');
  u.pathname = `${base}/whep/${stream.split('/').map(encodeURIComponent).join('/')}`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/** A refused or failed WHEP request. */
export class WhepError extends Error {
  override name = 'WhepError';
  constructor(
    /** A stable code: the server's, or whep_unavailable, server_error, bad_answer, network_error. */
    readonly code: string,
    message: string,
    /** HTTP status, 0 when no response arrived. */
    readonly status: number,
    /** Whether another transport may succeed where this failed. */
    readonly fallback: boolean,
  ) {
    super(message);
  }
}

/** The server's answer to an offer. */
export interface WhepAnswer {
  /** The SDP answer. */
  sdp: string;
  /** The session resource (absolute URL) to DELETE at the end, if the server gave one. */
  location: string | undefined;
}

/** What readWhepResponse needs of an HTTP response. */
export interface WhepResponseLike {
  status: number;
  /** The Location header, or null. */
  location: string | null;
  /** The Content-Type header, or null. */
  contentType: string | null;
  body: string;
}

/** Codes of the server's 4xx answers after which another transport may work. */
const FALLBACK_CODES = new Set(['no_compatible_codec', 'bad_sdp', 'unsupported_media_type', 'method_not_allowed']);

/**
 * Reads the answer to a WHEP offer POSTed to requestURL: a 201 (or 200)
 * with an SDP body is the answer; anything else throws a WhepError.
 */
export function readWhepResponse(requestURL: string, res: WhepResponseLike): WhepAnswer {
  if (res.status === 201 || res.status === 200) {
    if (!/^v=0/.test(res.body.trimStart())) {
      throw new WhepError('bad_answer', `WHEP answered ${res.status} without an SDP answer`, res.status, true);
    }
    return { sdp: res.body, location: resolveLocation(res.location, requestURL) };
  }
  const err = parseErrorBody(res.contentType, res.body);
  const message = err?.message || `WHEP answered ${res.status}`;
  if (res.status === 404) {
    // The server's own 404 names the stream; a plain 404 (a server or
    // proxy without WHEP) means there is no WHEP here at all.
    if (err?.code === 'not_found') return throwErr('not_found', message, 404, false);
    return throwErr('whep_unavailable', message, 404, true);
  }
  if (res.status === 503) return throwErr(err?.code === 'shutting_down' ? 'server_shutdown' : 'unavailable', message, 503, false);
  if (res.status === 429) return throwErr('rate_limited', message, 429, false);
  if (res.status >= 500) return throwErr(err?.code ?? 'server_error', message, res.status, false);
  if (res.status === 405 || res.status === 501) return throwErr('whep_unavailable', message, res.status, true);
  const code = err?.code ?? (res.status === 406 ? 'no_compatible_codec' : `http_${res.status}`);
  return throwErr(code, message, res.status, FALLBACK_CODES.has(code) || res.status >= 400);
}

function throwErr(code: string, message: string, status: number, fallback: boolean): never {
  throw new WhepError(code, message, status, fallback);
}

/** The session URL: Location resolved against the endpoint's URL (it is usually a path). */
export function resolveLocation(location: string | null, requestURL: string): string | undefined {
  if (!location) return undefined;
  try {
    return new URL(location, requestURL).toString();
  } catch {
    return undefined;
  }
}

function parseErrorBody(contentType: string | null, body: string): { code: string; message: string } | undefined {
  if (!body || (contentType && !/json/i.test(contentType) && !body.trimStart().startsWith('{'))) return undefined;
  try {
    const o = JSON.parse(body) as unknown;
    if (typeof o !== 'object' || o === null) return undefined;
    const r = o as Record<string, unknown>;
    // deliver/whep: {"error": code, "message"}; the REST API: {"error": {"code", "message"}}.
    if (typeof r['error'] === 'string') return { code: r['error'], message: typeof r['message'] === 'string' ? r['message'] : '' };
    const e = r['error'];
    if (typeof e === 'object' && e !== null && typeof (e as Record<string, unknown>)['code'] === 'string') {
      const m = (e as Record<string, unknown>)['message'];
      return { code: (e as Record<string, string>)['code']!, message: typeof m === 'string' ? m : '' };
    }
  } catch {
    /* not JSON */
  }
  return undefined;
}

/**
 * The ingest wall clock (ms since the Unix epoch, on the server's clock) of
 * a frame, from what RTCRtpReceiver.getSynchronizationSources() reports of
 * its abs-capture-time: captureTimestamp (ms on the NTP epoch, the capture
 * system's clock) and senderCaptureTimeOffset (the capture system's clock
 * minus the sender's, ms, when the sender estimated it). Undefined when
 * absent.
 */
export function captureWallMs(captureTimestamp: number | undefined, senderCaptureTimeOffset?: number): number | undefined {
  if (captureTimestamp === undefined || !Number.isFinite(captureTimestamp) || captureTimestamp <= 0) return undefined;
  const offset = senderCaptureTimeOffset !== undefined && Number.isFinite(senderCaptureTimeOffset) ? senderCaptureTimeOffset : 0;
  // senderCaptureTimeOffset is capture clock minus sender clock; the
  // sender is the server, whose clock is the one latency is measured on.
  return captureTimestamp - offset - NTP_UNIX_OFFSET_MS;
}

/**
 * Unwraps 32-bit RTP timestamps into a monotonic count (values within half
 * the range of the previous one are taken as the nearest), so frames and
 * cues stamped with RTP timestamps compare across a wrap.
 */
export class RtpUnwrapper {
  /** The unwrapped value of the newest timestamp seen. */
  private newest: number | undefined;

  unwrap(ts: number): number {
    const v = ts >>> 0;
    if (this.newest === undefined) {
      this.newest = v;
      return v;
    }
    let d = v - (this.newest % 0x100000000);
    if (d >= 0x80000000) d -= 0x100000000;
    else if (d < -0x80000000) d += 0x100000000;
    const out = this.newest + d;
    if (d > 0) this.newest = out;
    return out;
  }
}

/** A clock point: the video RTP time (unwrapped, 90 kHz ticks) of a frame and its time on the stream's timeline (s). */
export interface RtpClockPoint {
  rtp: number;
  mediaTime: number;
}

/**
 * The video RTP clock of a WebRTC session mapped to the stream's timeline
 * (the hub's presentation times, the clock cues and chat messages are
 * stamped on), from the clock points the server sends on the cue channel
 * (deliver/whep/cues.go): the server's RTP time is the frame's
 * presentation time plus an offset of its own, which changes when it
 * starts or restarts a viewer from the GOP cache (the frames behind the
 * live edge go 1 ms apart in RTP time), and it sends a point for every
 * frame whose offset differs from the one before. A frame's time is that
 * of the newest point at or before its RTP time, plus the RTP time since;
 * undefined before the first point (a frame the server sent before the
 * oldest point still held). Keeps at most `max` points, the newest.
 */
export class RtpTimeline {
  private readonly points: RtpClockPoint[] = [];
  private readonly max: number;

  constructor(max = 256) {
    this.max = max;
  }

  /** Adds a point (rtp unwrapped, 90 kHz); one at the same RTP time is replaced. */
  add(rtp: number, mediaTime: number): void {
    if (!Number.isFinite(rtp) || !Number.isFinite(mediaTime)) return;
    const ps = this.points;
    let i = ps.length;
    while (i > 0 && ps[i - 1]!.rtp > rtp) i--;
    if (i > 0 && ps[i - 1]!.rtp === rtp) ps[i - 1] = { rtp, mediaTime };
    else ps.splice(i, 0, { rtp, mediaTime });
    if (ps.length > this.max) ps.splice(0, ps.length - this.max);
  }

  /** The time on the stream's timeline (s) of RTP time rtp (unwrapped, 90 kHz); undefined before the first point. */
  mediaTime(rtp: number): number | undefined {
    const ps = this.points;
    for (let i = ps.length - 1; i >= 0; i--) {
      const p = ps[i]!;
      if (p.rtp <= rtp) return p.mediaTime + (rtp - p.rtp) / RTP_VIDEO_CLOCK;
    }
    return undefined;
  }

  get size(): number {
    return this.points.length;
  }
}

/** The video RTP clock rate (H.264, RFC 6184), Hz. */
export const RTP_VIDEO_CLOCK = 90000;
