/**
 * WebRtcTransport plays a stream over WebRTC with WHEP (draft-ietf-wish-whep):
 * a recvonly RTCPeerConnection (video and audio, abs-capture-time asked
 * for), an offer POSTed to /whep/{stream} once ICE gathering completes (or
 * after gatherTimeoutMs, without trickle), the answer applied, and the
 * MediaStream that arrives set as the <video>'s srcObject. close() closes the
 * peer connection, DELETEs the session resource and detaches the stream.
 *
 * The ingest wall clock of the frame on screen comes from abs-capture-time,
 * as RTCRtpReceiver.getSynchronizationSources() reports it; the bitrate and
 * round trip from getStats(), polled once a second. Cues arrive on a data
 * channel labelled `liveloop-cues` (ordered, reliable) that the offer opens,
 * as JSON {"id","type","payload","mediaTime","rtpTimestamp"}: rtpTimestamp
 * is the cue's time on the video RTP clock, and the player fires the cue at
 * the first frame presented whose RTP timestamp (requestVideoFrameCallback's
 * rtpTimestamp) is not earlier; both are unwrapped by one RtpUnwrapper, so
 * the 32-bit wrap does not matter. The frame clock (frameTime) is that RTP
 * time, unwrapped, in seconds.
 *
 * Opened with the protocol `clock`, the same channel carries clock points,
 * {"clock":{"rtpTimestamp","mediaTime"}}:
 * the RTP time of a frame and its presentation time on the stream's
 * timeline. The server sends one when the channel opens and whenever its
 * RTP offset changes (a start or restart from the GOP cache); streamTime()
 * places a frame clock time on the stream's timeline through them
 * (RtpTimeline), which is how Player.mediaTime() knows the frame on screen.
 */
import { BitrateMeter } from './bitrate.js';
import type { Cue } from './cues.js';
import { toRanges } from './timeline.js';
import type { CloseInfo, ElementTransport, ElementTransportListener, FrameMetadata } from './transport.js';
import { captureWallMs, readWhepResponse, RTP_VIDEO_CLOCK, RtpTimeline, RtpUnwrapper, WhepError } from './whep.js';

/** The label of the data channel that carries cues. */
export const CUE_CHANNEL = 'liveloop-cues';
/** The protocol the player opens the cue channel with: it wants clock points too. */
export const CUE_CHANNEL_CLOCK = 'clock';
const ABS_CAPTURE_TIME = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';

export interface WebRtcTransportOptions {
  /** The WHEP endpoint, e.g. from whepURL(). */
  url: string;
  /** The element the MediaStream plays in. */
  video: HTMLVideoElement;
  /** ICE servers (STUN/TURN). Default none: the server's candidates are public or on the LAN. */
  iceServers?: RTCIceServer[];
  /** Longest wait for ICE gathering before the offer goes without the missing candidates, ms. Default 1000. */
  gatherTimeoutMs?: number;
  /** A `disconnected` peer that does not recover within this is given up, ms. Default 2500. */
  disconnectTimeoutMs?: number;
  /** Longest wait for the WHEP answer, ms. Default 8000. */
  requestTimeoutMs?: number;
  /**
   * Offer a data channel (an SCTP association) so that the server can send
   * cues on `liveloop-cues`. Default true; without it no cue arrives.
   */
  cueChannel?: boolean;
  /** Monotonic clock, ms. Default performance.now(). */
  now?: () => number;
  /** For tests. */
  fetch?: typeof fetch;
  RTCPeerConnection?: typeof RTCPeerConnection;
}

type SyncSource = RTCRtpSynchronizationSource & { captureTimestamp?: number; senderCaptureTimeOffset?: number };
type TransceiverWithExts = RTCRtpTransceiver & {
  getHeaderExtensionsToNegotiate?: () => { uri: string; direction: string }[];
  setHeaderExtensionsToNegotiate?: (exts: { uri: string; direction: string }[]) => void;
};

export class WebRtcTransport implements ElementTransport {
  readonly kind = 'webrtc' as const;
  private readonly opts: WebRtcTransportOptions;
  private readonly listener: ElementTransportListener;
  private readonly now: () => number;
  private pc: RTCPeerConnection | undefined;
  private stream: MediaStream | undefined;
  private location: string | undefined;
  private closed = false;
  private opened = false;
  private readonly rtp = new RtpUnwrapper();
  private readonly timeline = new RtpTimeline();
  private readonly meter = new BitrateMeter();
  private lastBytes: number | undefined;
  private roundTrip: number | undefined;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private disconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly abort = new AbortController();

  constructor(opts: WebRtcTransportOptions, listener: ElementTransportListener) {
    this.opts = opts;
    this.listener = listener;
    this.now = opts.now ?? (() => performance.now());
  }

  connect(): void {
    if (this.pc || this.closed) return;
    // A page that goes away ends its session at once (DELETE with
    // keepalive) rather than leaving the server to notice ICE is gone.
    globalThis.addEventListener?.('pagehide', this.onPageHide);
    this.run().catch((err: unknown) => {
      if (err instanceof WhepError) {
        this.finish({ code: 1006, reason: err.message, serverError: { code: err.code, message: err.message }, fallback: err.fallback });
      } else {
        const aborted = err instanceof DOMException && err.name === 'AbortError';
        const code = aborted ? 'timeout' : 'webrtc_error';
        this.finish({ code: 1006, reason: String(err), serverError: { code, message: String(err) }, fallback: aborted });
      }
    });
  }

  close(): void {
    this.finish({ code: 1000, reason: 'client closed' });
  }

  frameTime(md: FrameMetadata): number | undefined {
    return md.rtpTimestamp === undefined ? undefined : this.rtp.unwrap(md.rtpTimestamp) / RTP_VIDEO_CLOCK;
  }

  streamTime(frameTime: number): number | undefined {
    return this.timeline.mediaTime(Math.round(frameTime * RTP_VIDEO_CLOCK));
  }

  ingestWallClock(): number | undefined {
    const rx = this.pc?.getReceivers().find((r) => r.track?.kind === 'video');
    if (!rx || typeof rx.getSynchronizationSources !== 'function') return undefined;
    let newest: SyncSource | undefined;
    for (const s of rx.getSynchronizationSources() as SyncSource[]) {
      if (s.captureTimestamp && (!newest || s.timestamp > newest.timestamp)) newest = s;
    }
    return newest ? captureWallMs(newest.captureTimestamp, newest.senderCaptureTimeOffset) : undefined;
  }

  bitrate(now: number): number {
    return this.meter.bitsPerSecond(now);
  }

  rtt(): number | undefined {
    return this.roundTrip;
  }

  bufferedAhead(): number {
    const v = this.opts.video;
    const r = toRanges(v.buffered).find(([a, b]) => v.currentTime >= a && v.currentTime < b);
    return r ? r[1] - v.currentTime : 0;
  }

  private async run(): Promise<void> {
    const PC = this.opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    if (typeof PC !== 'function') throw new WhepError('unsupported', 'this browser has no WebRTC', 0, true);
    const pc = new PC({ iceServers: this.opts.iceServers ?? [], bundlePolicy: 'max-bundle' });
    this.pc = pc;
    for (const kind of ['video', 'audio'] as const) {
      const t = pc.addTransceiver(kind, { direction: 'recvonly' }) as TransceiverWithExts;
      // Chromium negotiates abs-capture-time only when asked to.
      if (t.getHeaderExtensionsToNegotiate && t.setHeaderExtensionsToNegotiate) {
        try {
          const exts = t.getHeaderExtensionsToNegotiate();
          for (const e of exts) if (e.uri === ABS_CAPTURE_TIME) e.direction = 'recvonly';
          t.setHeaderExtensionsToNegotiate(exts);
        } catch {
          /* older browsers: no true latency figure */
        }
      }
    }
    if (this.opts.cueChannel ?? true) this.watchChannel(pc.createDataChannel(CUE_CHANNEL, { ordered: true, protocol: CUE_CHANNEL_CLOCK }));
    pc.ondatachannel = (e) => {
      if (e.channel.label === CUE_CHANNEL) this.watchChannel(e.channel);
    };
    pc.ontrack = (e) => {
      if (this.closed) return;
      const stream = (this.stream ??= new MediaStream());
      if (!stream.getTracks().includes(e.track)) stream.addTrack(e.track);
      if (this.opts.video.srcObject !== stream) this.opts.video.srcObject = stream;
    };
    pc.onconnectionstatechange = () => this.onConnectionState(pc.connectionState);

    await pc.setLocalDescription(await pc.createOffer());
    await this.gathered(pc);
    if (this.closed) return;
    const timer = setTimeout(() => this.abort.abort(), this.opts.requestTimeoutMs ?? 8000);
    let res: Response;
    let body: string;
    try {
      res = await (this.opts.fetch ?? fetch)(this.opts.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
        body: pc.localDescription?.sdp ?? '',
        signal: this.abort.signal,
      });
      body = await res.text();
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new WhepError('network_error', `WHEP request failed: ${String(err)}`, 0, false);
    } finally {
      clearTimeout(timer);
    }
    const answer = readWhepResponse(this.opts.url, {
      status: res.status,
      location: res.headers.get('Location'),
      contentType: res.headers.get('Content-Type'),
      body,
    });
    this.location = answer.location;
    if (this.closed) {
      this.deleteSession();
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
    if (this.closed) return;
    this.listener.onAnswered();
    this.statsTimer = setInterval(() => void this.pollStats(), 1000);
  }

  /** Resolves when ICE gathering is complete, or after gatherTimeoutMs. */
  private gathered(pc: RTCPeerConnection): Promise<void> {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      };
      const check = () => pc.iceGatheringState === 'complete' && done();
      const timer = setTimeout(done, this.opts.gatherTimeoutMs ?? 1000);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }

  private onConnectionState(state: RTCPeerConnectionState): void {
    if (this.closed) return;
    if (state === 'connected') {
      if (this.disconnectTimer !== undefined) clearTimeout(this.disconnectTimer);
      this.disconnectTimer = undefined;
      if (!this.opened) {
        this.opened = true;
        this.listener.onOpen();
      }
    } else if (state === 'failed') {
      const code = this.opened ? 'connection_lost' : 'ice_failed';
      this.finish({ code: 1006, reason: code, serverError: { code, message: `WebRTC connection ${state}` }, fallback: true });
    } else if (state === 'disconnected' && this.disconnectTimer === undefined) {
      this.disconnectTimer = setTimeout(() => {
        this.finish({ code: 1006, reason: 'disconnected', serverError: { code: 'connection_lost', message: 'WebRTC connection lost' }, fallback: true });
      }, this.opts.disconnectTimeoutMs ?? 2500);
    }
  }

  private watchChannel(dc: RTCDataChannel): void {
    dc.onmessage = (e: MessageEvent) => {
      if (this.closed || typeof e.data !== 'string') return;
      const m = parseChannelMessage(e.data, (ts) => this.rtp.unwrap(ts) / RTP_VIDEO_CLOCK);
      if (m?.cue) this.listener.onCue(m.cue);
      else if (m?.clock) this.timeline.add(this.rtp.unwrap(m.clock.rtpTimestamp), m.clock.mediaTime);
    };
  }

  private async pollStats(): Promise<void> {
    const pc = this.pc;
    if (!pc || this.closed) return;
    let bytes = 0;
    let rtt: number | undefined;
    try {
      const report = await pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s['type'] === 'inbound-rtp' && typeof s['bytesReceived'] === 'number') bytes += s['bytesReceived'];
        if (s['type'] === 'candidate-pair' && s['nominated'] && typeof s['currentRoundTripTime'] === 'number') {
          rtt = s['currentRoundTripTime'] * 1000;
        }
      });
    } catch {
      return;
    }
    if (this.closed) return;
    if (this.lastBytes !== undefined && bytes >= this.lastBytes) this.meter.add(this.now(), bytes - this.lastBytes);
    this.lastBytes = bytes;
    if (rtt !== undefined) this.roundTrip = rtt;
  }

  private deleteSession(): void {
    const loc = this.location;
    this.location = undefined;
    if (!loc) return;
    (this.opts.fetch ?? fetch)(loc, { method: 'DELETE', keepalive: true }).catch(() => undefined);
  }

  private readonly onPageHide = (): void => this.close();

  private finish(info: CloseInfo & { fallback?: boolean }): void {
    if (this.closed) return;
    this.closed = true;
    globalThis.removeEventListener?.('pagehide', this.onPageHide);
    this.abort.abort();
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    if (this.disconnectTimer !== undefined) clearTimeout(this.disconnectTimer);
    const pc = this.pc;
    if (pc) {
      pc.ontrack = null;
      pc.ondatachannel = null;
      pc.onconnectionstatechange = null;
      try {
        pc.close();
      } catch {
        /* ignore */
      }
    }
    this.deleteSession();
    const v = this.opts.video;
    if (this.stream && v.srcObject === this.stream) v.srcObject = null;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.listener.onClose(info);
  }
}

/** A clock point from the `liveloop-cues` data channel: a frame's RTP timestamp (32 bits) and its time on the stream's timeline (s). */
export interface ChannelClock {
  rtpTimestamp: number;
  mediaTime: number;
}

/**
 * Parses a message of the `liveloop-cues` data channel: a cue
 * {"id","type","payload","mediaTime","rtpTimestamp"} (see parseChannelCue)
 * or a clock point {"clock":{"rtpTimestamp","mediaTime"}}. Undefined for
 * anything else (messages of later versions are ignored).
 */
export function parseChannelMessage(text: string, rtpToTime: (rtp: number) => number): { cue?: Cue; clock?: ChannelClock } | undefined {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Record<string, unknown>;
  const clock = r['clock'];
  if (typeof clock === 'object' && clock !== null && r['id'] === undefined) {
    const c = clock as Record<string, unknown>;
    const rtp = c['rtpTimestamp'];
    const t = c['mediaTime'];
    if (typeof rtp !== 'number' || !Number.isInteger(rtp) || rtp < 0 || rtp > 0xffffffff) return undefined;
    if (typeof t !== 'number' || !Number.isFinite(t)) return undefined;
    return { clock: { rtpTimestamp: rtp, mediaTime: t } };
  }
  const cue = cueOf(r, rtpToTime);
  return cue ? { cue } : undefined;
}

/**
 * Parses a cue from the `liveloop-cues` data channel:
 * {"id","type","payload","mediaTime","rtpTimestamp"}. Its time on the
 * frame clock is rtpToTime(rtpTimestamp); a cue without one fires at once.
 */
export function parseChannelCue(text: string, rtpToTime: (rtp: number) => number): Cue | undefined {
  return parseChannelMessage(text, rtpToTime)?.cue;
}

function cueOf(r: Record<string, unknown>, rtpToTime: (rtp: number) => number): Cue | undefined {
  if (typeof r['id'] !== 'string' || r['id'] === '') return undefined;
  const rtp = r['rtpTimestamp'];
  return {
    id: r['id'],
    type: typeof r['type'] === 'string' ? r['type'] : '',
    payload: r['payload'] ?? null,
    mediaTime: typeof rtp === 'number' && Number.isFinite(rtp) ? rtpToTime(rtp) : -Infinity,
  };
}
