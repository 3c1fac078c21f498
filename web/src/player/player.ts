/**
 * Player plays one live stream in a <video> element with the lowest latency
 * the network allows.
 *
 * Life cycle: new Player(video, {stream}) → play() → ... → stop(). play()
 * connects with the chosen transport (`auto`, the default: WebRTC, falling
 * back to the WebSocket when WebRTC does not get a frame through; see
 * auto.ts). Over the WebSocket it feeds the fMP4 it receives to MSE, jumps
 * to the live edge and keeps playback there (live-edge controller); WebRTC
 * (WHEP, a MediaStream as srcObject) and LL-HLS (hls.js) play into the
 * <video> themselves (ElementTransport). It reconnects with backoff when the
 * connection drops or the stream is not live yet (keeping the same <video>
 * and MediaSource when it can), and reports its state, statistics, errors
 * and cues as events:
 *
 *   'state'  PlayerState   idle → connecting → buffering → playing ⇄ stalled,
 *                          waiting (publisher gone), offline (not live, retrying),
 *                          reconnecting, ended, stopped, error (fatal)
 *   'stats'  PlayerStats   once a second while playing
 *   'error'  PlayerError   fatal: false for problems the player recovers from
 *   'cue'    Cue           when the frame with the cue's media time is shown
 */
import { TransportSelector, type TransportChoice } from './auto.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { BitrateMeter } from './bitrate.js';
import { ClockSync } from './clock-sync.js';
import { CueScheduler, type Cue } from './cues.js';
import { Emitter } from './events.js';
import { parseInitTracks, prftMediaTime, scanSegment, type Prft, type SegmentScan, type TrackFragment } from './fmp4.js';
import { DEFAULT_AV_TARGET, DEFAULT_TARGET, LiveEdgeController, type LiveEdgeOptions } from './live-edge.js';
import type { InitMessage, TrackInfo } from './messages.js';
import { mediaSourceCtor, MseSink } from './mse-sink.js';
import { StallDetector } from './stall.js';
import { chooseTimestampOffset, latencySeconds, WallClockMap, type FirstMedia, type Range } from './timeline.js';
import type { HlsConfig } from 'hls.js';
import { hlsURL, HlsTransport } from './hls-transport.js';
import { syncServerClock } from './server-clock.js';
import type { CloseInfo, ElementTransport, ElementTransportListener, FrameMetadata, Transport, TransportKind, TransportListener } from './transport.js';
import { WebRtcTransport } from './webrtc-transport.js';
import { whepURL } from './whep.js';
import { wsURL, WsTransport } from './ws-transport.js';

export type PlayerState =
  | 'idle'
  | 'connecting'
  | 'buffering'
  | 'playing'
  | 'stalled'
  | 'waiting'
  | 'offline'
  | 'reconnecting'
  | 'ended'
  | 'stopped'
  | 'error';

export interface PlayerOptions {
  /** Stream name, as in /ws/{stream}, /whep/{stream}, /hls/{stream}/index.m3u8. */
  stream: string;
  /** Server base URL (http(s) or ws(s)). Default: the page's origin. */
  baseURL?: string;
  /**
   * Target buffer ahead of the playhead, seconds. Default 0.13 for a
   * stream of video alone, 0.2 for one with audio (less makes Chromium's
   * audio renderer run dry).
   */
  targetLatency?: number;
  /** Further behind the live edge than this, seek, seconds. Default 1.5. */
  maxLag?: number;
  /**
   * Transport: 'webrtc' (WHEP), 'ws' (fMP4 over WebSocket), 'hls' (LL-HLS),
   * or 'auto' (the default): WebRTC, falling back to 'ws' when WebRTC is
   * missing, refused, fails ICE or shows no frame within fallbackTimeout.
   */
  transport?: TransportChoice;
  /** In auto mode, fall back when WebRTC shows no frame this long after the WHEP answer, ms. Default 3500. */
  fallbackTimeout?: number;
  /** WebRTC settings. */
  webrtc?: {
    /** STUN/TURN servers. Default none. */
    iceServers?: RTCIceServer[];
    /** Longest wait for ICE gathering before offering, ms. Default 1000. */
    gatherTimeoutMs?: number;
    /** Offer a data channel for cues (`liveloop-cues`). Default true; without it WebRTC viewers get no cues. */
    cueChannel?: boolean;
  };
  /** LL-HLS settings. */
  hls?: {
    /** Use the browser's own HLS even where hls.js works. Default false. */
    preferNative?: boolean;
    /** hls.js settings over the player's (see hlsConfig in hls-transport.ts). */
    config?: Partial<HlsConfig>;
  };
  /** Seconds of media kept behind the playhead. Default 20. */
  backBuffer?: number;
  /** Fine tuning of the live-edge controller. */
  liveEdge?: LiveEdgeOptions;
  /** Fine tuning of the reconnect backoff. */
  backoff?: BackoffOptions;
}

export interface PlayerStats {
  /** Seconds from ingest to the frame on screen; null until known. */
  latency: number | null;
  /** Seconds from play() to the first frame shown; null until then. */
  startupTime: number | null;
  /**
   * When the first frame was shown, ms since the page's time origin
   * (performance.now(): navigation start for a page); null until then.
   */
  firstFrameAt: number | null;
  /** Stalls since play(). */
  stalls: number;
  /** Total stalled time, seconds. */
  stallTime: number;
  /** Received bits per second (2 s moving window). */
  bitrate: number;
  width: number;
  height: number;
  /** Buffered media ahead of the playhead, seconds. */
  bufferedAhead: number;
  playbackRate: number;
  droppedFrames: number;
  totalFrames: number;
  /** The transport in use. */
  transport: TransportKind;
  /** The transport asked for (options.transport). */
  requestedTransport: TransportChoice;
  /** Why auto mode fell back from WebRTC to the WebSocket (e.g. ice_failed, no_frame_in_3.5s), or null. */
  fallbackReason: string | null;
  state: PlayerState;
  /** Reconnects since play(). */
  reconnects: number;
  /** Round trip, ms: WebRTC's ICE round trip, else that of the best clock sample; null until known. */
  rtt: number | null;
  /** video.currentTime, seconds. */
  currentTime: number;
}

export interface PlayerError {
  /** not_found, server_shutdown, bad_request, protocol_error, media_error, autoplay_blocked, unsupported, ... */
  code: string;
  message: string;
  /** True when the player gave up (state 'error'). */
  fatal: boolean;
}

export interface PlayerEvents {
  state: PlayerState;
  stats: PlayerStats;
  error: PlayerError;
  cue: Cue;
}

const TICK_MS = 100;
/** emsg boxes whose scheme starts with this carry Liveloop cues as JSON (e.g. urn:liveloop:cue:2025). */
const CUE_SCHEME_PREFIX = 'urn:liveloop:cue';
/** Media messages held at most while waiting for a new connection's first prft. */
const MAX_HELD = 32;
const STATS_MS = 1000;

type VideoWithRVFC = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: (now: number, md: FrameMetadata) => void) => number;
  cancelVideoFrameCallback?: (handle: number) => void;
};

export class Player extends Emitter<PlayerEvents> {
  readonly video: HTMLVideoElement;
  readonly options: Readonly<PlayerOptions>;

  private _state: PlayerState = 'idle';
  private readonly clock = new ClockSync();
  private readonly wall = new WallClockMap();
  private readonly cues = new CueScheduler();
  private readonly live: LiveEdgeController;
  private readonly stall = new StallDetector();
  private readonly bitrate = new BitrateMeter();
  private readonly backoff: Backoff;

  private transport: Transport | undefined;
  /** The transport when it plays into the video itself (webrtc, hls). */
  private element: ElementTransport | undefined;
  private readonly choice: TransportChoice;
  private selector: TransportSelector | undefined;
  /** A frame of the current element transport's connection was shown. */
  private attemptShown = false;
  private clockSyncStarted = false;
  private sink: MseSink | undefined;
  private generation = 0;
  private tracks = new Map<number, TrackInfo>();
  private videoTrackId: number | undefined;
  private newConnection = true;
  private held: { data: Uint8Array; scan: SegmentScan | undefined }[] = [];
  private gotMedia = false;
  private publisher: 'live' | 'waiting' | 'ended' | undefined;

  private running = false;
  private started = false;
  private playStartedAt = 0;
  private startupTime: number | null = null;
  private firstFrameAt: number | null = null;
  private reconnects = 0;
  /**
   * The newest frame presented: its media time (the element's), its time
   * on the frame clock of the transport that placed it (the clock cues are
   * placed on: the element's media time, or on WebRTC the RTP time), when.
   */
  private lastFrame: { mediaTime: number; cueTime: number | undefined; by: ElementTransport | undefined; at: number } | undefined;
  private autoplayBlocked = false;
  private lastPlayAttempt = -Infinity;

  private tickTimer: ReturnType<typeof setInterval> | undefined;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private rvfcHandle: number | undefined;

  private playPromise: Promise<void> | undefined;
  private settlePlay: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(video: HTMLVideoElement, opts: PlayerOptions) {
    super();
    if (!opts || typeof opts.stream !== 'string' || opts.stream === '') throw new TypeError('Player: options.stream is required');
    const choice = opts.transport ?? 'auto';
    if (!['auto', 'ws', 'webrtc', 'hls'].includes(choice)) {
      throw new TypeError(`Player: transport ${String(opts.transport)} is not available`);
    }
    this.choice = choice;
    this.video = video;
    this.options = { ...opts };
    this.live = new LiveEdgeController({
      target: opts.targetLatency ?? DEFAULT_TARGET,
      ...(opts.maxLag !== undefined ? { maxLag: opts.maxLag } : {}),
      ...opts.liveEdge,
    });
    this.backoff = new Backoff(opts.backoff);
  }

  /** The current state. */
  get state(): PlayerState {
    return this._state;
  }

  /**
   * Starts playing. Resolves when the first frame is shown; rejects when
   * the player is stopped first or fails for good (e.g. no MSE, unsupported
   * codec). While the stream is not live the player keeps retrying and the
   * promise stays pending.
   */
  play(): Promise<void> {
    if (this.running && this.playPromise) return this.playPromise;
    this.running = true;
    this.playPromise = new Promise<void>((resolve, reject) => {
      this.settlePlay = { resolve, reject };
    });
    this.playPromise.catch(() => {
      /* handled by whoever awaits play(); never an unhandled rejection */
    });
    this.playStartedAt = performance.now();
    this.started = false;
    this.startupTime = null;
    this.firstFrameAt = null;
    this.reconnects = 0;
    this.stall.reset();
    this.bitrate.reset();
    this.backoff.reset();
    this.selector = new TransportSelector(
      this.choice,
      { webrtc: typeof globalThis.RTCPeerConnection === 'function', mse: mediaSourceCtor() !== undefined },
      this.options.fallbackTimeout !== undefined ? { firstFrameTimeoutMs: this.options.fallbackTimeout } : {},
    );
    this.clockSyncStarted = false;
    this.addVideoListeners();
    if (!this.startTransport()) return this.playPromise;
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    this.statsTimer = setInterval(() => this.emit('stats', this.stats()), STATS_MS);
    this.requestFrame();
    return this.playPromise;
  }

  /** Stops playing, closes the connection and detaches from the video. */
  stop(): void {
    if (!this.running) return;
    this.teardown();
    this.setState('stopped');
    this.settlePlay?.reject(new Error('stopped'));
    this.settlePlay = undefined;
  }

  /**
   * The media time, in seconds on the stream's timeline (the hub's
   * presentation times: the clock cues and chat messages are stamped on),
   * of the frame on screen (requestVideoFrameCallback's newest frame, else
   * video.currentTime); null before the first frame, and while the
   * transport cannot place the frame on that timeline.
   *
   * Each transport places the frame as it places its cues, on its frame
   * clock (frameClock()), and maps that clock to the stream's timeline:
   * WebSocket: the SourceBuffer's time minus the timestampOffset the player
   * applied (none unless the server's timeline restarted); WebRTC: the
   * frame's RTP timestamp through the clock points the server sends on the
   * cue channel (null before the first, or where the browser gives no
   * rtpTimestamp); LL-HLS with hls.js: its media time plus hls.js's initPTS
   * (null with the browser's own HLS). It agrees across transports within
   * a frame for the same picture.
   */
  mediaTime(): number | null {
    if (!this.started) return null;
    const t = this.frameClock();
    if (t === undefined || !Number.isFinite(t)) return null;
    let s: number | undefined;
    if (this.element) s = this.element.streamTime(t);
    else if (this.sink) s = t - this.sink.timestampOffset;
    return s === undefined || !Number.isFinite(s) ? null : Math.max(0, s);
  }

  /** A snapshot of the playback statistics. */
  stats(): PlayerStats {
    const v = this.video;
    const now = performance.now();
    const q = typeof v.getVideoPlaybackQuality === 'function' ? v.getVideoPlaybackQuality() : undefined;
    const range = this.currentRange(this.sink?.buffered() ?? []);
    const el = this.element;
    return {
      latency: this.latency(now),
      startupTime: this.startupTime,
      firstFrameAt: this.firstFrameAt,
      stalls: this.stall.stalls,
      stallTime: this.stall.stallTime(now),
      bitrate: Math.round(el ? el.bitrate(now) : this.bitrate.bitsPerSecond(now)),
      width: v.videoWidth,
      height: v.videoHeight,
      bufferedAhead: el ? el.bufferedAhead() : range ? Math.max(0, range[1] - v.currentTime) : 0,
      playbackRate: v.playbackRate,
      droppedFrames: q?.droppedVideoFrames ?? 0,
      totalFrames: q?.totalVideoFrames ?? 0,
      transport: this.selector?.current ?? (this.choice === 'auto' ? 'webrtc' : this.choice),
      requestedTransport: this.choice,
      fallbackReason: this.selector?.fallbackReason ?? null,
      state: this._state,
      reconnects: this.reconnects,
      rtt: this.element?.rtt() ?? this.clock.rtt ?? null,
      currentTime: v.currentTime,
    };
  }

  // --- connection ---------------------------------------------------------

  private baseURL(): string {
    return this.options.baseURL ?? (typeof location !== 'undefined' ? location.origin : 'http://localhost');
  }

  /**
   * Sets the media up for the selector's transport (a MediaSource for ws;
   * nothing for the others, which attach to the video themselves) and
   * connects. False when it cannot (the player failed).
   */
  private startTransport(): boolean {
    const kind = this.selector!.current;
    if (kind === 'ws') {
      if (!mediaSourceCtor()) {
        this.fail('unsupported', 'this browser has no Media Source Extensions');
        return false;
      }
      this.resetMedia();
    } else {
      this.sink?.destroy();
      this.sink = undefined;
      this.wall.clear();
      this.cues.clear();
      this.live.reset();
      this.lastFrame = undefined;
      if (!this.clockSyncStarted) {
        // No ping/pong on these transports: ask the server's clock over HTTP.
        this.clockSyncStarted = true;
        void syncServerClock(httpBase(this.baseURL()), this.clock);
      }
    }
    this.setState('connecting');
    this.connect();
    return true;
  }

  /** Auto mode gave up on WebRTC: go on over the WebSocket. */
  private fallBack(): void {
    this.generation++;
    this.transport?.close();
    this.transport = this.element = undefined;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const reason = this.selector!.fallbackReason ?? 'unknown';
    this.emit('error', { code: 'fallback', message: `WebRTC did not work (${reason}); playing over ${this.selector!.current}`, fatal: false });
    this.backoff.reset();
    this.startTransport();
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    const gen = ++this.generation;
    const kind = this.selector?.current ?? 'ws';
    if (kind !== 'ws') {
      this.connectElement(gen, kind);
      return;
    }
    this.newConnection = true;
    this.held = [];
    this.gotMedia = false;
    const base = this.options.baseURL ?? (typeof location !== 'undefined' ? location.origin : 'http://localhost');
    const ok = () => gen === this.generation && this.running;
    const listener: TransportListener = {
      onOpen: () => undefined,
      onHello: (_stream, serverTime, at) => ok() && this.clock.addCoarse(serverTime, at),
      onInit: (init, seg) => ok() && this.onInit(init, seg),
      onMedia: (data, at) => ok() && this.onMedia(data, at),
      onStatus: (state) => ok() && this.onStatus(state),
      onPong: (clientTime, serverTime, at) => ok() && this.clock.addSample(clientTime, serverTime, at),
      onCue: (cue) => ok() && this.addCue({ ...cue, mediaTime: cue.mediaTime + (this.sink?.timestampOffset ?? 0) }),
      onClose: (info) => ok() && this.onClose(info),
    };
    this.transport = new WsTransport({ url: wsURL(base, this.options.stream) }, listener);
    this.transport.connect();
  }

  private connectElement(gen: number, kind: 'webrtc' | 'hls'): void {
    this.gotMedia = false;
    this.attemptShown = false;
    this.selector!.attempt();
    const ok = () => gen === this.generation && this.running;
    const listener: ElementTransportListener = {
      onOpen: () => ok() && this.onElementOpen(),
      onAnswered: () => ok() && this.selector!.answered(performance.now()),
      onCue: (cue) => ok() && this.addCue(cue),
      onWarning: (code, message) => ok() && this.emit('error', { code, message, fatal: false }),
      onClose: (info) => ok() && this.onElementClose(info),
    };
    const base = this.baseURL();
    const video = this.video;
    const t: ElementTransport =
      kind === 'webrtc'
        ? new WebRtcTransport({ url: whepURL(base, this.options.stream), video, ...this.options.webrtc }, listener)
        : new HlsTransport({ url: hlsURL(base, this.options.stream), video, ...this.options.hls }, listener);
    this.transport = this.element = t;
    t.connect();
  }

  private onElementOpen(): void {
    this.gotMedia = true;
    if (this.started) this.live.restartWindow(performance.now());
    if (this._state === 'offline' || this._state === 'reconnecting' || this._state === 'ended' || this._state === 'connecting') {
      this.setState(this.liveState());
    }
    this.ensurePlaying();
  }

  private onElementClose(info: CloseInfo & { fallback?: boolean }): void {
    this.transport = this.element = undefined;
    const err = info.serverError;
    if (err?.code === 'ended') {
      this.setState('ended');
      this.scheduleReconnect();
      return;
    }
    if (err) this.emit('error', { code: err.code, message: err.message, fatal: false });
    if (this.selector!.failed(err?.code ?? 'closed', info.fallback ?? false)) {
      this.fallBack();
      return;
    }
    if (err?.code === 'not_found') this.setState('offline');
    else if (this._state !== 'offline') this.setState('reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer !== undefined) return;
    const delay = this.backoff.next();
    this.reconnects++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onClose(info: CloseInfo): void {
    this.transport = undefined;
    const err = info.serverError;
    if (err) {
      this.emit('error', { code: err.code, message: err.message, fatal: false });
      if (err.code === 'not_found') this.setState('offline');
    }
    if (this.publisher === 'ended') this.setState('ended');
    else if (this._state !== 'offline') this.setState('reconnecting');
    this.publisher = undefined;
    this.scheduleReconnect();
  }

  private onStatus(state: 'live' | 'waiting' | 'ended'): void {
    this.publisher = state;
    if (state === 'live') this.setState(this.liveState());
    else this.setState(state);
  }

  private onInit(init: InitMessage, seg: Uint8Array): void {
    this.tracks = new Map(init.tracks.map((t) => [t.id, { ...t }]));
    let fromMoov: ReturnType<typeof parseInitTracks> = [];
    try {
      fromMoov = parseInitTracks(seg);
    } catch {
      /* the JSON is enough */
    }
    for (const t of fromMoov) {
      const known = this.tracks.get(t.trackId);
      if (known && !(known.timescale > 0)) known.timescale = t.timescale;
      if (!known) this.tracks.set(t.trackId, { id: t.trackId, kind: t.handler === 'vide' ? 'video' : t.handler === 'soun' ? 'audio' : t.handler, codec: '', timescale: t.timescale });
    }
    this.videoTrackId = [...this.tracks.values()].find((t) => t.kind === 'video')?.id;
    if (this.options.targetLatency === undefined && this.options.liveEdge?.target === undefined) {
      const audio = [...this.tracks.values()].some((t) => t.kind === 'audio');
      this.live.setTarget(audio ? DEFAULT_AV_TARGET : DEFAULT_TARGET);
    }
    this.sink?.init(init.mime, seg);
    if (!this.started && this._state !== 'waiting') this.setState('buffering');
  }

  private onMedia(data: Uint8Array, at: number): void {
    const sink = this.sink;
    if (!sink) return;
    this.bitrate.add(at, data.byteLength);
    let scan: SegmentScan | undefined;
    try {
      scan = scanSegment(data);
    } catch (err) {
      this.emit('error', { code: 'parse_error', message: String(err), fatal: false });
    }
    if (!this.newConnection) {
      this.appendMedia(sink, data, scan);
      return;
    }
    // The first media of a connection decides the timestampOffset. Hold it
    // until a prft arrives (it precedes the first video fragment; audio may
    // come first) so the decision can compare wall clocks.
    this.held.push({ data, scan });
    const hasPrft = scan?.prfts.some((p) => (this.tracks.get(p.prft.referenceTrackId)?.timescale ?? 0) > 0);
    if (!hasPrft && this.held.length < MAX_HELD) return;
    const first = this.firstMedia(this.held.map((h) => h.scan));
    if (first) sink.setTimestampOffset(chooseTimestampOffset(first, sink.timestampOffset, sink.buffered(), (t) => this.wall.wallAt(t)));
    this.newConnection = false;
    const held = this.held;
    this.held = [];
    for (const h of held) this.appendMedia(sink, h.data, h.scan);
  }

  private appendMedia(sink: MseSink, data: Uint8Array, scan: SegmentScan | undefined): void {
    if (scan) this.mapScan(scan, sink.timestampOffset);
    sink.append(data);
    if (!this.gotMedia) {
      this.gotMedia = true;
      this.backoff.reset();
      if (this.started) this.live.restartWindow(performance.now());
      if (this._state === 'offline' || this._state === 'reconnecting' || this._state === 'ended') {
        this.setState(this.liveState());
      }
    }
    this.ensurePlaying();
  }

  /** A new connection's first media time and prft (server timeline), for chooseTimestampOffset. */
  private firstMedia(scans: (SegmentScan | undefined)[]): FirstMedia | undefined {
    const frags = scans.flatMap((s) => s?.fragments ?? []);
    const time = this.firstTime(frags);
    if (time === undefined) return undefined;
    for (const { prft, fragments } of scans.flatMap((s) => s?.prfts ?? [])) {
      const ts = this.tracks.get(prft.referenceTrackId)?.timescale;
      if (!ts) continue;
      return { time, prft: { mediaTime: this.prftSeconds(prft, fragments, ts), wallMs: prft.wallClockMs } };
    }
    return { time };
  }

  /**
   * The presentation time in seconds (server timeline) that a prft maps to
   * the ingest wall clock: its media_time (ISO/IEC 14496-12 8.16.5), a
   * version 0 box's 32 bits unwrapped against the following fragment's tfdt.
   */
  private prftSeconds(prft: Prft, fragments: TrackFragment[] | undefined, timescale: number): number {
    const frag = fragments?.find((f) => f.trackId === prft.referenceTrackId && f.baseMediaDecodeTime !== undefined);
    return prftMediaTime(prft, frag?.baseMediaDecodeTime) / timescale;
  }

  /** Media time (seconds) of the first fragment, preferring the video track. */
  private firstTime(frags: TrackFragment[]): number | undefined {
    const timed = frags.filter((f) => f.baseMediaDecodeTime !== undefined && (this.tracks.get(f.trackId)?.timescale ?? 0) > 0);
    const f = timed.find((x) => x.trackId === this.videoTrackId) ?? timed[0];
    return f ? f.baseMediaDecodeTime! / this.tracks.get(f.trackId)!.timescale : undefined;
  }

  /** Records prft wall-clock points and emsg cues (in SourceBuffer time). */
  private mapScan(scan: SegmentScan, offset: number): void {
    for (const { prft, fragments } of scan.prfts) {
      const ts = this.tracks.get(prft.referenceTrackId)?.timescale;
      if (!ts) continue;
      this.wall.add(this.prftSeconds(prft, fragments, ts) + offset, prft.wallClockMs);
    }
    for (const { emsg, fragments } of scan.emsgs) {
      if (!emsg.schemeIdUri.startsWith(CUE_SCHEME_PREFIX)) continue;
      let text: unknown;
      try {
        text = JSON.parse(new TextDecoder().decode(emsg.messageData));
      } catch {
        continue;
      }
      if (typeof text !== 'object' || text === null || !(emsg.timescale > 0)) continue;
      let t: number | undefined;
      if (emsg.presentationTime !== undefined) t = emsg.presentationTime / emsg.timescale;
      else {
        const start = this.firstTime(fragments ?? []);
        if (start !== undefined) t = start + (emsg.presentationTimeDelta ?? 0) / emsg.timescale;
      }
      if (t === undefined) continue;
      const o = text as Record<string, unknown>;
      this.addCue({
        id: String(o['id'] ?? `emsg-${emsg.id}`),
        mediaTime: t + offset,
        type: typeof o['type'] === 'string' ? o['type'] : emsg.value,
        payload: o['payload'] ?? o,
      });
    }
  }

  private addCue(cue: Cue): void {
    this.cues.add(cue);
    if (this.started && !this.frameCallbacksWork()) this.fireCues(this.frameClock() ?? Infinity);
  }

  private fireCues(mediaTime: number): void {
    for (const cue of this.cues.due(mediaTime)) this.emit('cue', cue);
  }

  // --- media pipeline -----------------------------------------------------

  /** A fresh MediaSource and SourceBuffer (at start and after a media error). */
  private resetMedia(): void {
    this.sink?.destroy();
    this.wall.clear();
    this.cues.clear();
    this.live.reset();
    this.lastFrame = undefined;
    const sink = new MseSink(
      this.video,
      {
        onError: (err, fatal) => this.sink === sink && this.onMediaError(err.message, fatal),
        // Deciding at every append (not only every TICK_MS) lets the
        // live-edge controller jump to live as soon as the rest of the first
        // GOP lands, and start playing as soon as there is data.
        onUpdate: () => this.tick(),
      },
      this.options.backBuffer !== undefined ? { backBuffer: this.options.backBuffer } : {},
    );
    this.sink = sink;
    try {
      sink.open();
    } catch (err) {
      this.fail('unsupported', String(err));
    }
  }

  private onMediaError(message: string, fatal: boolean): void {
    this.emit('error', { code: 'media_error', message, fatal: false });
    if (!fatal || !this.running) return;
    // Start over with a new MediaSource and a new connection (which begins
    // with init and a keyframe).
    this.generation++;
    this.transport?.close();
    this.transport = undefined;
    this.resetMedia();
    this.setState('reconnecting');
    this.scheduleReconnect();
  }

  private ensurePlaying(): void {
    const v = this.video;
    if (!v.paused || this.autoplayBlocked || !this.running) return;
    const now = performance.now();
    if (now - this.lastPlayAttempt < 1000) return;
    this.lastPlayAttempt = now;
    v.play().catch((err: unknown) => {
      if (!this.running) return;
      if (err instanceof DOMException && err.name === 'NotAllowedError') {
        if (!v.muted) {
          // Autoplay with sound is blocked: play muted (the page offers unmute).
          v.muted = true;
          this.lastPlayAttempt = -Infinity;
          this.ensurePlaying();
          return;
        }
        this.autoplayBlocked = true;
        this.emit('error', { code: 'autoplay_blocked', message: 'the browser blocked autoplay; call video.play() from a user gesture', fatal: false });
      }
      // AbortError (a seek or new source interrupted play()) is retried by the next tick.
    });
  }

  private currentRange(ranges: readonly Range[]): Range | undefined {
    const t = this.video.currentTime;
    return ranges.find(([a, b]) => t >= a - 0.05 && t < b);
  }

  private tick(): void {
    const sink = this.sink;
    if (!this.running) return;
    if (!sink) {
      this.tickElement();
      return;
    }
    const v = this.video;
    const now = performance.now();
    const act = this.live.update({
      now,
      currentTime: v.currentTime,
      buffered: sink.buffered(),
      paused: v.paused,
      seeking: v.seeking,
      playbackRate: v.playbackRate,
      stalled: this.stall.stalled,
    });
    if (act.seekTo !== undefined) v.currentTime = act.seekTo;
    if (v.playbackRate !== act.playbackRate) v.playbackRate = act.playbackRate;

    if (!this.started && !this.frameCallbacksWork() && v.readyState >= 2 && !v.paused && !v.seeking && v.currentTime > 0) {
      this.onFirstFrame(now);
    }
    const active = this.started && !v.paused && !v.seeking && this.publisher !== 'waiting' && this.publisher !== 'ended';
    if (this.stall.update(now, v.currentTime, active)) this.onStallChange();
    if (this.started && !this.frameCallbacksWork()) this.fireCues(v.currentTime);
    if (this.gotMedia) this.ensurePlaying();
    sink.trim(v.currentTime);
    this.wall.prune(v.currentTime - 60);
  }

  /** tick() for transports that play into the video themselves. */
  private tickElement(): void {
    const v = this.video;
    const now = performance.now();
    if (this.selector!.check(now)) {
      this.fallBack();
      return;
    }
    if (!this.frameCallbacksWork() && this.element && v.readyState >= 2 && !v.paused && v.currentTime > 0) {
      this.onElementFrame();
      if (!this.started) this.onFirstFrame(now);
    }
    const active = this.started && !v.paused && !v.seeking && this.element !== undefined && this._state !== 'ended';
    if (this.stall.update(now, v.currentTime, active)) this.onStallChange();
    // A transport that cannot place the frame on screen (WebRTC without
    // frame callbacks) fires its cues at once.
    if (this.started && !this.frameCallbacksWork()) this.fireCues(this.frameClock() ?? Infinity);
    if (this.gotMedia) this.ensurePlaying();
  }

  /** A frame of the current element transport's connection was shown. */
  private onElementFrame(): void {
    if (this.attemptShown) return;
    this.attemptShown = true;
    this.selector!.frameShown();
    this.backoff.reset();
  }

  private onStallChange(): void {
    if (this._state === 'playing' || this._state === 'stalled') this.setState(this.liveState());
  }

  /** The state while the stream is live: buffering before the first frame, then playing or stalled. */
  private liveState(): PlayerState {
    if (!this.started) return 'buffering';
    return this.stall.stalled ? 'stalled' : 'playing';
  }

  private onFirstFrame(now: number): void {
    if (this.started) return;
    this.started = true;
    this.startupTime = (now - this.playStartedAt) / 1000;
    this.firstFrameAt = now;
    if (this._state === 'buffering' || this._state === 'connecting') this.setState('playing');
    this.settlePlay?.resolve();
    this.settlePlay = undefined;
  }

  // --- frames on screen ---------------------------------------------------

  private frameCallbacksWork(): boolean {
    return this.lastFrame !== undefined && performance.now() - this.lastFrame.at < 1000;
  }

  /**
   * The frame on screen on the current transport's frame clock: that of
   * the newest frame presented while frame callbacks come, else where
   * video.currentTime places it (WebSocket and LL-HLS: it is the frame
   * clock), else (WebRTC: a paused or hidden video) the newest frame that
   * transport presented. Undefined when none can be known.
   */
  private frameClock(): number | undefined {
    const last = this.lastFrame?.by === this.element ? this.lastFrame : undefined;
    if (last && this.frameCallbacksWork()) return last.cueTime;
    const el = this.element;
    const t = el ? el.frameTime({ mediaTime: this.video.currentTime }) : this.video.currentTime;
    return t ?? last?.cueTime;
  }

  private requestFrame(): void {
    const v = this.video as VideoWithRVFC;
    if (typeof v.requestVideoFrameCallback !== 'function' || !this.running) return;
    this.rvfcHandle = v.requestVideoFrameCallback((_now, md) => {
      if (!this.running) return;
      const at = performance.now();
      const el = this.element;
      const cueTime = el ? el.frameTime(md) : md.mediaTime;
      this.lastFrame = { mediaTime: md.mediaTime, cueTime, by: el, at };
      if (el) this.onElementFrame();
      if (!this.started && !v.seeking) this.onFirstFrame(at);
      // A WebRTC frame without an RTP timestamp cannot place cues: they fire at once.
      if (this.started) this.fireCues(cueTime ?? Infinity);
      this.requestFrame();
    });
  }

  private latency(now: number): number | null {
    if (!this.started) return null;
    const t = this.frameCallbacksWork() ? this.lastFrame!.mediaTime : this.video.currentTime;
    if (this.element) {
      const ingested = this.element.ingestWallClock(t);
      const serverNow = this.clock.serverNow(now);
      return ingested === undefined || serverNow === undefined ? null : (serverNow - ingested) / 1000;
    }
    return latencySeconds(this.wall, t, this.clock.serverNow(now)) ?? null;
  }

  // --- video element ------------------------------------------------------

  private readonly onVideoWaiting = (): void => {
    // A seek (the player's own jump to the live edge) waits for its frame to
    // decode: that is not a stall.
    if (this.video.seeking) return;
    this.stall.onWaiting(performance.now(), this.video.currentTime);
    this.onStallChange();
  };

  private readonly onVideoPlay = (): void => {
    this.autoplayBlocked = false;
  };

  private readonly onVideoError = (): void => {
    const e = this.video.error;
    if (!e || !this.running || !this.sink) return;
    this.onMediaError(`video error ${e.code}: ${e.message}`, true);
  };

  private addVideoListeners(): void {
    this.video.addEventListener('waiting', this.onVideoWaiting);
    this.video.addEventListener('play', this.onVideoPlay);
    this.video.addEventListener('error', this.onVideoError);
  }

  private removeVideoListeners(): void {
    this.video.removeEventListener('waiting', this.onVideoWaiting);
    this.video.removeEventListener('play', this.onVideoPlay);
    this.video.removeEventListener('error', this.onVideoError);
  }

  // --- state --------------------------------------------------------------

  private setState(s: PlayerState): void {
    if (this._state === s) return;
    this._state = s;
    this.emit('state', s);
  }

  private fail(code: string, message: string): void {
    this.teardown();
    this.setState('error');
    this.emit('error', { code, message, fatal: true });
    this.settlePlay?.reject(new Error(message));
    this.settlePlay = undefined;
  }

  private teardown(): void {
    this.running = false;
    this.generation++;
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.tickTimer = this.statsTimer = this.reconnectTimer = undefined;
    const v = this.video as VideoWithRVFC;
    if (this.rvfcHandle !== undefined) v.cancelVideoFrameCallback?.(this.rvfcHandle);
    this.rvfcHandle = undefined;
    this.transport?.close();
    this.transport = this.element = undefined;
    this.sink?.destroy();
    this.sink = undefined;
    if (this.video.srcObject) this.video.srcObject = null;
    this.removeVideoListeners();
    this.video.playbackRate = 1;
  }
}

/** An http(s) URL for a base URL that may be ws(s). */
function httpBase(base: string): string {
  return base.replace(/^ws(s?):/i, 'http$1:');
}
