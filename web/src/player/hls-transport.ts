/**
 * HlsTransport plays a stream's LL-HLS playlist (GET /hls/{stream}/index.m3u8,
 * deliver/llhls) in the <video>: with hls.js in low-latency mode where the
 * browser has Media Source Extensions, else with the browser's own HLS
 * (Safari on iOS). hls.js is loaded on demand (a separate chunk of the
 * bundle), so viewers on other transports never download it.
 *
 * hls.js keeps the playhead PART-HOLD-BACK behind the live edge (the server
 * says three parts, about 0.6 s) and plays faster, up to
 * maxLiveSyncPlaybackRate, to get back there after a stall. The ingest wall
 * clock of the frame on screen is its segment's EXT-X-PROGRAM-DATE-TIME plus
 * the time into the segment; cues are the playlist's EXT-X-DATERANGE tags
 * of class urn:liveloop:cue, placed on the media timeline through the PDT
 * of the segment they fall in, from that segment's true start once hls.js
 * has parsed its first part (LEVEL_PTS_UPDATED: the presentation time of
 * its first frame), not from the playlist's durations, which hls.js starts
 * from and which can be tens of milliseconds off: so the player fires each
 * on the frame it was stamped on (requestVideoFrameCallback's mediaTime).
 * A cue whose segment hls.js will not parse (it is behind where playback
 * started) or that waits longer than cueWaitMs is placed through the
 * playlist's times instead.
 *
 * The frame clock (frameTime) is hls.js's media timeline: the parts' fMP4
 * decode times (the stream's timeline) shifted by the SourceBuffer's
 * timestampOffset, minus the initPTS hls.js takes from the first fragment
 * it parses (INIT_PTS_FOUND); streamTime() adds that back
 * (hlsStreamTime), which is how Player.mediaTime() knows the frame on
 * screen. With the browser's own HLS neither cues nor the stream time are
 * known yet.
 */
import type { HlsConfig, default as HlsType, LevelDetails } from 'hls.js';
import { BitrateMeter } from './bitrate.js';
import { dateRangeToCue, hlsStreamTime, placeDateRange, wallClockAt, type DateRangeLike, type InitPts, type ParsedSegment } from './program-date.js';
import { toRanges } from './timeline.js';
import type { CloseInfo, ElementTransport, ElementTransportListener, FrameMetadata } from './transport.js';

export interface HlsTransportOptions {
  /** The playlist URL, e.g. from hlsURL(). */
  url: string;
  /** The element to play in. */
  video: HTMLVideoElement;
  /** Use the browser's own HLS even where hls.js works. Default false. */
  preferNative?: boolean;
  /** hls.js settings over the defaults below (see hlsConfig). */
  config?: Partial<HlsConfig>;
  /** Monotonic clock, ms. Default performance.now(). */
  now?: () => number;
  /** Loads hls.js (for tests). Default a dynamic import of hls.js's light build. */
  load?: () => Promise<typeof HlsType>;
  /** Longest wait to place a cue exactly before placing it through the playlist's times, ms. Default 5000. */
  cueWaitMs?: number;
}

/** Cues that wait to be placed, at most; the oldest are placed first. */
const MAX_WAITING_CUES = 256;

/** The playlist URL of a stream: {base}/hls/{stream}/index.m3u8. */
export function hlsURL(baseURL: string, stream: string): string {
  const u = new URL(baseURL);
  if (u.protocol === 'ws:') u.protocol = 'http:';
  else if (u.protocol === 'wss:') u.protocol = 'https:';
  const base = u.pathname.replace(/\/+$/, '');
  u.pathname = `${base}/hls/${stream.split('/').map(encodeURIComponent).join('/')}/index.m3u8`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

/**
 * hls.js settings for the lowest latency LL-HLS allows. The target latency
 * is the playlist's PART-HOLD-BACK (hls.js uses it in low-latency mode
 * unless liveSyncDuration is set); set liveSyncDuration (seconds) to hold
 * another distance.
 */
export function hlsConfig(overrides: Partial<HlsConfig> = {}): Partial<HlsConfig> {
  return {
    lowLatencyMode: true,
    // The worker needs a separate script with the ES module build; the
    // fMP4 passthrough it would do is cheap on the main thread.
    enableWorker: false,
    backBufferLength: 10,
    maxBufferLength: 10,
    // Catch up to PART-HOLD-BACK by playing up to 10% faster.
    maxLiveSyncPlaybackRate: 1.1,
    liveDurationInfinity: true,
    // Start on the newest independent part rather than a segment back.
    startPosition: -1,
    ...overrides,
  };
}

export class HlsTransport implements ElementTransport {
  readonly kind = 'hls' as const;
  private readonly opts: HlsTransportOptions;
  private readonly listener: ElementTransportListener;
  private readonly now: () => number;
  private hls: HlsType | undefined;
  private native = false;
  private details: LevelDetails | undefined;
  private readonly meter = new BitrateMeter();
  private closed = false;
  private opened = false;
  private started = false;
  private mediaRecoveries = 0;
  /** hls.js's initPTS by discontinuity sequence (cc), and the cc of the newest. */
  private initPts: (InitPts | undefined)[] = [];
  private newestCc: number | undefined;

  constructor(opts: HlsTransportOptions, listener: ElementTransportListener) {
    this.opts = opts;
    this.listener = listener;
    this.now = opts.now ?? (() => performance.now());
  }

  connect(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.run().catch((err: unknown) => {
      this.finish({ code: 1006, reason: String(err), serverError: { code: 'hls_error', message: String(err) } });
    });
  }

  close(): void {
    this.finish({ code: 1000, reason: 'client closed' });
  }

  frameTime(md: FrameMetadata): number {
    return md.mediaTime;
  }

  streamTime(frameTime: number): number | undefined {
    if (this.native) return undefined;
    return hlsStreamTime(frameTime, this.segments(), this.initPts, this.newestCc);
  }

  ingestWallClock(mediaTime: number): number | undefined {
    if (this.native) {
      const d = (this.opts.video as HTMLVideoElement & { getStartDate?: () => Date }).getStartDate?.();
      const t = d?.getTime();
      return t !== undefined && Number.isFinite(t) ? t + mediaTime * 1000 : undefined;
    }
    const w = wallClockAt(this.segments(), mediaTime);
    return w ?? this.hls?.playingDate?.getTime();
  }

  bitrate(now: number): number {
    return this.meter.bitsPerSecond(now);
  }

  rtt(): number | undefined {
    return undefined;
  }

  bufferedAhead(): number {
    const v = this.opts.video;
    const r = toRanges(v.buffered).find(([a, b]) => v.currentTime >= a - 0.05 && v.currentTime < b);
    return r ? Math.max(0, r[1] - v.currentTime) : 0;
  }

  /** The playlist's segments, with the parsed start of those hls.js has parsed. */
  private segments(): (ParsedSegment & { sn: number; cc: number })[] {
    const d = this.details;
    if (!d) return [];
    const segs = d.fragments.map((f) => ({
      sn: f.sn,
      cc: f.cc,
      start: f.start,
      duration: f.duration,
      programDateTime: f.programDateTime,
      parsedStart: this.parsedStarts.get(f.sn),
    }));
    // The segment being written (only its parts are listed yet).
    const parts = d.partList ?? [];
    const hint = parts[parts.length - 1]?.fragment;
    if (hint && hint.programDateTime !== null && (!segs.length || hint.start > segs[segs.length - 1]!.start)) {
      let listed = 0;
      for (const p of parts) if (p.fragment.sn === hint.sn) listed += p.duration;
      segs.push({
        sn: hint.sn,
        cc: hint.cc,
        start: hint.start,
        duration: listed || hint.duration,
        programDateTime: hint.programDateTime,
        parsedStart: this.parsedStarts.get(hint.sn),
      });
    }
    return segs;
  }

  private async run(): Promise<void> {
    const v = this.opts.video;
    const hasMSE = typeof (globalThis as { MediaSource?: unknown; ManagedMediaSource?: unknown }).MediaSource === 'function' ||
      typeof (globalThis as { ManagedMediaSource?: unknown }).ManagedMediaSource === 'function';
    const canNative = typeof v.canPlayType === 'function' && v.canPlayType('application/vnd.apple.mpegurl') !== '';
    if (canNative && (this.opts.preferNative || !hasMSE)) return this.runNative();
    const Hls = this.opts.load ? await this.opts.load() : (await import('hls.js/light')).default;
    if (this.closed) return;
    if (!Hls.isSupported()) {
      if (canNative) return this.runNative();
      throw new Error('this browser plays neither HLS nor Media Source Extensions');
    }
    const hls = new Hls(hlsConfig(this.opts.config));
    this.hls = hls;
    const E = Hls.Events;
    hls.on(E.LEVEL_UPDATED, (_e, data) => {
      if (this.closed) return;
      this.details = data.details;
      if (!this.opened) {
        this.opened = true;
        this.listener.onAnswered();
        this.listener.onOpen();
      }
      this.collectCues(data.details);
    });
    hls.on(E.INIT_PTS_FOUND, (_e, data) => {
      if (this.closed) return;
      // data.timestampOffsets is every cc's; older hls.js gave only this one.
      const all = data.timestampOffsets as (InitPts | undefined)[] | undefined;
      this.initPts = all ? all.slice() : this.initPts;
      this.initPts[data.frag.cc] = { baseTime: data.initPTS, timescale: data.timescale };
      this.newestCc = data.frag.cc;
    });
    hls.on(E.LEVEL_PTS_UPDATED, (_e, data) => {
      if (this.closed || typeof data.frag.sn !== 'number') return;
      const sn = data.frag.sn;
      const video = data.type.includes('video');
      // A segment's first part, or the whole segment, starts it; a later
      // part (where playback began mid-segment) gives it by the listed
      // durations of the parts before it.
      const first = !data.part || data.part.index === 0;
      const start = first ? data.start : data.start - (data.part!.start - data.frag.start);
      const known = this.parsedStarts.get(sn);
      if (known === undefined || (first && (video || !this.parsedFirst.has(sn)))) {
        this.parsedStarts.set(sn, start);
        if (first) this.parsedFirst.add(sn);
      }
      if (this.parsedStarts.size > 64) {
        const oldest = this.parsedStarts.keys().next().value!;
        this.parsedStarts.delete(oldest);
        this.parsedFirst.delete(oldest);
      }
      this.placeCues();
    });
    hls.on(E.FRAG_LOADED, (_e, data) => {
      if (!this.closed) this.meter.add(this.now(), data.payload?.byteLength ?? data.frag.stats.loaded);
    });
    hls.on(E.ERROR, (_e, data) => {
      if (this.closed) return;
      if (!data.fatal) {
        this.listener.onWarning('hls_' + data.details, data.error?.message ?? data.details);
        return;
      }
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && this.mediaRecoveries < 2) {
        this.mediaRecoveries++;
        hls.recoverMediaError();
        return;
      }
      const status = data.response?.code ?? 0;
      const code = status === 404 || status === 410 ? 'not_found' : 'hls_' + data.details;
      this.finish({ code: 1006, reason: data.details, serverError: { code, message: data.error?.message ?? data.details } });
    });
    v.addEventListener('ended', this.onEnded);
    hls.loadSource(this.opts.url);
    hls.attachMedia(v);
  }

  private runNative(): void {
    this.native = true;
    const v = this.opts.video;
    v.addEventListener('loadedmetadata', this.onNativeLoaded);
    v.addEventListener('error', this.onNativeError);
    v.addEventListener('ended', this.onEnded);
    v.src = this.opts.url;
  }

  private readonly onNativeLoaded = (): void => {
    if (this.closed || this.opened) return;
    this.opened = true;
    this.listener.onAnswered();
    this.listener.onOpen();
  };

  private readonly onNativeError = (): void => {
    const e = this.opts.video.error;
    this.finish({ code: 1006, reason: 'video error', serverError: { code: 'hls_error', message: e ? `video error ${e.code}: ${e.message}` : 'video error' } });
  };

  private readonly onEnded = (): void => {
    this.finish({ code: 1000, reason: 'ended', serverError: { code: 'ended', message: 'the stream ended' } });
  };

  private readonly seenCues = new Set<string>();
  /** Date ranges seen and not placed yet, by ID, with when they were seen. */
  private readonly waitingCues = new Map<string, { dr: DateRangeLike; since: number }>();
  /** The start on the media timeline of the segments hls.js has parsed, by media sequence number. */
  private readonly parsedStarts = new Map<number, number>();
  private readonly parsedFirst = new Set<number>();

  private collectCues(details: LevelDetails): void {
    const ranges = details.dateRanges;
    if (!ranges) return;
    for (const id of Object.keys(ranges)) {
      const dr = ranges[id];
      if (!dr || this.seenCues.has(id)) continue;
      this.seenCues.add(id);
      if (this.waitingCues.size >= MAX_WAITING_CUES) this.placeCue(this.waitingCues.keys().next().value!, true);
      this.waitingCues.set(id, {
        dr: { id: dr.id, class: dr.class, startDate: dr.startDate.getTime(), attr: dr.attr as Record<string, unknown> },
        since: this.now(),
      });
    }
    this.placeCues();
  }

  /** Places the waiting cues that can be, and emits them. */
  private placeCues(): void {
    if (this.waitingCues.size === 0) return;
    const segs = this.segments();
    // hls.js loads forward from where playback started: a segment before
    // the first one it parsed never will be.
    const firstParsed = segs.findIndex((s) => s.parsedStart !== undefined);
    const wait = this.opts.cueWaitMs ?? 5000;
    const now = this.now();
    for (const [id, w] of [...this.waitingCues]) {
      const placed = placeDateRange(w.dr, segs);
      if (placed === null) {
        this.waitingCues.delete(id);
        continue;
      }
      if (placed) {
        this.waitingCues.delete(id);
        this.listener.onCue(placed);
        continue;
      }
      let seg = -1;
      segs.forEach((s, i) => {
        if (typeof s.programDateTime === 'number' && s.programDateTime <= w.dr.startDate) seg = i;
      });
      const behind = firstParsed >= 0 && seg >= 0 && seg < firstParsed;
      if (behind || now - w.since >= wait) this.placeCue(id, false);
    }
  }

  /** Places a waiting cue through the playlist's times (or drops it: force and no date to place it by). */
  private placeCue(id: string, force: boolean): void {
    const w = this.waitingCues.get(id);
    if (!w) return;
    const cue = dateRangeToCue(w.dr, this.segments());
    if (!cue && !force) return;
    this.waitingCues.delete(id);
    if (cue) this.listener.onCue(cue);
  }

  private finish(info: CloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    const v = this.opts.video;
    v.removeEventListener('ended', this.onEnded);
    v.removeEventListener('loadedmetadata', this.onNativeLoaded);
    v.removeEventListener('error', this.onNativeError);
    if (this.hls) {
      this.hls.destroy();
      this.hls = undefined;
    } else if (this.native) {
      v.removeAttribute('src');
      try {
        v.load();
      } catch {
        /* ignore */
      }
    }
    this.listener.onClose(info);
  }
}
