/**
 * The choice of transport, and the automatic fallback of `transport: 'auto'`
 * (the default): try WebRTC first; if this browser has no WebRTC, if the
 * WHEP server refuses in a way another transport would not (no compatible
 * codec, no WHEP endpoint), if ICE fails, or if no frame is shown within
 * firstFrameTimeoutMs of the server's answer, fall back to the WebSocket
 * transport for the rest of the session, and say why (fallbackReason).
 *
 * A stream that is not live (WHEP 404 not_found) is not a reason to fall
 * back: it is not live over WebSocket either; the player retries WebRTC.
 * A transport asked for by name (`ws`, `webrtc`, `hls`) never falls back.
 *
 * Pure: the caller passes the time (ms, any monotonic clock).
 */
import type { TransportKind } from './transport.js';

/** What Player's `transport` option takes: a transport, or 'auto'. */
export type TransportChoice = TransportKind | 'auto';

/** What the browser can do. */
export interface TransportSupport {
  /** RTCPeerConnection exists. */
  webrtc: boolean;
  /** Media Source Extensions exist (WebSocket transport, hls.js). */
  mse: boolean;
}

export interface TransportSelectorOptions {
  /** In auto mode, fall back when no frame is shown this long after the WHEP answer, ms. Default 3500. */
  firstFrameTimeoutMs?: number;
}

/** Parses a transport name as the page passes it (`?proto=`); unknown names are undefined. */
export function parseTransportChoice(s: unknown): TransportChoice | undefined {
  return s === 'auto' || s === 'ws' || s === 'webrtc' || s === 'hls' ? s : undefined;
}

export class TransportSelector {
  readonly choice: TransportChoice;
  private readonly timeoutMs: number;
  private kind: TransportKind;
  private reason: string | null = null;
  /** When the current WebRTC attempt got its answer (the no-frame clock runs from there). */
  private answeredAt: number | undefined;
  private shown = false;

  constructor(choice: TransportChoice, support: TransportSupport, opts: TransportSelectorOptions = {}) {
    this.choice = choice;
    this.timeoutMs = opts.firstFrameTimeoutMs ?? 3500;
    if (choice !== 'auto') this.kind = choice;
    else if (support.webrtc) this.kind = 'webrtc';
    else {
      this.kind = 'ws';
      this.reason = 'webrtc_unsupported';
    }
  }

  /** The transport to use now. */
  get current(): TransportKind {
    return this.kind;
  }

  /** Why auto mode left WebRTC, or null. */
  get fallbackReason(): string | null {
    return this.reason;
  }

  /** Whether the current transport may still be replaced by a fallback. */
  private get tentative(): boolean {
    return this.choice === 'auto' && this.kind === 'webrtc';
  }

  /** A new connection attempt on the current transport starts. */
  attempt(): void {
    this.answeredAt = undefined;
    this.shown = false;
  }

  /** The server accepted the attempt (WHEP answered) at now. */
  answered(now: number): void {
    this.answeredAt = now;
  }

  /** A frame of the current attempt was shown. */
  frameShown(): void {
    this.shown = true;
    this.answeredAt = undefined;
  }

  /**
   * The current attempt failed with an error code; fallback says whether
   * another transport may do better (WhepError.fallback; true for ICE
   * failures). Returns true when the transport changed.
   */
  failed(code: string, fallback: boolean): boolean {
    if (!this.tentative || !fallback) return false;
    // A session that showed frames and then lost its connection is retried
    // on WebRTC; one that never got a frame through falls back.
    if (this.shown && code === 'connection_lost') return false;
    return this.fallBack(code);
  }

  /**
   * Called periodically: returns true (and switches) when the attempt has
   * had its answer for firstFrameTimeoutMs without a frame shown.
   */
  check(now: number): boolean {
    if (!this.tentative || this.shown || this.answeredAt === undefined) return false;
    if (now - this.answeredAt < this.timeoutMs) return false;
    return this.fallBack(`no_frame_in_${(this.timeoutMs / 1000).toFixed(1)}s`);
  }

  private fallBack(reason: string): boolean {
    this.kind = 'ws';
    this.reason = reason;
    this.answeredAt = undefined;
    this.shown = false;
    return true;
  }
}
