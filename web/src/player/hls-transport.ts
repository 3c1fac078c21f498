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
 * of class urn:liveloop:cue, placed on the media timeline through the PDT.
 */
import type { HlsConfig, default as HlsType, LevelDetails } from 'hls.js';
import { BitrateMeter } from './bitrate.js';
import { dateRangeToCue, wallClockAt, type PdtSegment } from './program-date.js';
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
}

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

  private segments(): PdtSegment[] {
    const d = this.details;
    if (!d) return [];
    const segs: PdtSegment[] = d.fragments.map((f) => ({ start: f.start, duration: f.duration, programDateTime: f.programDateTime }));
    // The segment being written (only its parts are listed yet).
    const hint = d.partList?.[d.partList.length - 1]?.fragment;
    if (hint && hint.programDateTime !== null && (!segs.length || hint.start > segs[segs.length - 1]!.start)) {
      segs.push({ start: hint.start, duration: hint.duration, programDateTime: hint.programDateTime });
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

  private collectCues(details: LevelDetails): void {
    const ranges = details.dateRanges;
    if (!ranges) return;
    const segs = this.segments();
    for (const id of Object.keys(ranges)) {
      const dr = ranges[id];
      if (!dr || this.seenCues.has(id)) continue;
      const cue = dateRangeToCue({ id: dr.id, class: dr.class, startDate: dr.startDate.getTime(), attr: dr.attr as Record<string, unknown> }, segs);
      if (!cue) continue;
      this.seenCues.add(id);
      this.listener.onCue(cue);
    }
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
