/**
 * The transport abstraction: one connection to the server for one stream.
 * The player creates a new transport per (re)connection attempt and owns
 * reconnecting, the media pipeline and the clock estimate; a transport only
 * speaks its wire protocol and reports what arrives through its listener.
 *
 * `ws` (fMP4 over WebSocket, played by the player's own MSE pipeline)
 * reports what arrives through a TransportListener. `webrtc` (WHEP, a
 * MediaStream as the video's srcObject) and `hls` (LL-HLS with hls.js, or
 * the browser's own HLS) play into the <video> themselves: they are
 * ElementTransports, which report through an ElementTransportListener and
 * answer the player's questions about what is on screen.
 */
import type { Cue } from './cues.js';
import type { InitMessage } from './messages.js';

/** Transport names, as in the watch page's `?proto=`. */
export type TransportKind = 'ws' | 'webrtc' | 'hls';

/** Why a connection closed. */
export interface CloseInfo {
  /** WebSocket close code (1006 for an abnormal close). */
  code: number;
  reason: string;
  /** The server's `error` message before the close, if any. */
  serverError?: { code: string; message: string };
}

/** What a transport reports. Times are the client's monotonic clock, ms. */
export interface TransportListener {
  /** The connection is open. */
  onOpen(): void;
  /** The server said hello; serverTime is its wall clock in ms since the epoch. */
  onHello(stream: string, serverTime: number, receivedAt: number): void;
  /** Tracks were (re)announced; initSegment is ftyp+moov for them. */
  onInit(init: InitMessage, initSegment: Uint8Array): void;
  /** Whole fMP4 fragments in decode order. */
  onMedia(data: Uint8Array, receivedAt: number): void;
  /** The publisher's state. */
  onStatus(state: 'live' | 'waiting' | 'ended'): void;
  /** A clock sample: a ping sent at clientTime answered with serverTime, received at receivedAt. */
  onPong(clientTime: number, serverTime: number, receivedAt: number): void;
  /** A cue (mediaTime in seconds on the server's timeline). */
  onCue(cue: Cue): void;
  /** The connection is gone (called once, also after close()). */
  onClose(info: CloseInfo): void;
}

/** One connection. */
export interface Transport {
  readonly kind: TransportKind;
  /** Starts connecting. */
  connect(): void;
  /** Closes the connection; onClose follows. */
  close(): void;
}

/**
 * What a transport that plays into the <video> itself reports. Times are
 * the client's monotonic clock, ms.
 */
export interface ElementTransportListener {
  /** Media is flowing to the video element (WebRTC: the peer connected; HLS: the playlist loaded). */
  onOpen(): void;
  /** The server accepted the session (WHEP answered; the playlist exists): the no-frame clock of auto mode starts. */
  onAnswered(): void;
  /** A cue, its mediaTime on the transport's frame clock (see ElementTransport.frameTime). */
  onCue(cue: Cue): void;
  /** A problem the transport recovers from by itself. */
  onWarning(code: string, message: string): void;
  /**
   * The session is over (called once, also after close()). serverError.code
   * not_found means the stream is not live; `fallback` whether another
   * transport may do better.
   */
  onClose(info: CloseInfo & { fallback?: boolean }): void;
}

/** The requestVideoFrameCallback metadata a transport may use. */
export interface FrameMetadata {
  mediaTime: number;
  /** WebRTC: the frame's RTP timestamp. */
  rtpTimestamp?: number;
  /** WebRTC: capture time of the frame, performance.now() clock. */
  captureTime?: number;
  /** WebRTC: when the frame's last packet arrived, performance.now() clock. */
  receiveTime?: number;
}

/** A transport that plays into the <video> itself. */
export interface ElementTransport extends Transport {
  /**
   * The time of a frame on the transport's frame clock, the clock its cues
   * are placed on (HLS: the media time; WebRTC: its RTP timestamp,
   * unwrapped, in seconds). Without requestVideoFrameCallback the player
   * asks with {mediaTime: video.currentTime}. Undefined when the frame
   * cannot be placed (WebRTC without an RTP timestamp): cues then fire at
   * once.
   */
  frameTime(md: FrameMetadata): number | undefined;
  /**
   * The time on the stream's timeline (seconds: the hub's presentation
   * times, the clock cues and chat messages are stamped on) of a time on
   * the frame clock (HLS: plus hls.js's initPTS; WebRTC: through the
   * server's clock points); undefined while the transport cannot tell.
   */
  streamTime(frameTime: number): number | undefined;
  /**
   * The ingest wall clock (ms since the epoch, server clock) of the frame
   * on screen; mediaTime is that frame's (or video.currentTime).
   */
  ingestWallClock(mediaTime: number): number | undefined;
  /** Received bits per second, at client time now (ms). */
  bitrate(now: number): number;
  /** Round trip to the server, ms, if the transport knows it. */
  rtt(): number | undefined;
  /** Buffered media ahead of the playhead, seconds. */
  bufferedAhead(): number;
}
