/**
 * The transport abstraction: one connection to the server for one stream.
 * The player creates a new transport per (re)connection attempt and owns
 * reconnecting, the media pipeline and the clock estimate; a transport only
 * speaks its wire protocol and reports what arrives through its listener.
 *
 * Today the only transport is `ws` (fMP4 over WebSocket, played by MSE).
 * WebRTC and LL-HLS transports will report media differently (a MediaStream,
 * a playlist) and extend TransportListener accordingly.
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
