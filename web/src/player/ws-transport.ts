/**
 * WsTransport speaks the WebSocket playback protocol (docs/ws-protocol.md):
 * `GET /ws/{stream}`, JSON text messages (hello, init, status, error, pong,
 * cue) and binary fMP4. An `init` message is followed by exactly one binary
 * message, the init segment; every other binary message is media. It sends a
 * burst of pings right after connecting (so the clock estimate converges
 * quickly) and then one every pingIntervalMs.
 */
import { parseServerMessage, pingMessage, ProtocolError, type InitMessage } from './messages.js';
import type { CloseInfo, Transport, TransportListener } from './transport.js';

export interface WsTransportOptions {
  /** The ws:// or wss:// URL, e.g. from wsURL(). */
  url: string;
  /** Pings sent right after the connection opens. Default 5. */
  burstPings?: number;
  /** Spacing of the burst, ms. Default 100. */
  burstSpacingMs?: number;
  /** Interval of the pings after the burst, ms. Default 3000. */
  pingIntervalMs?: number;
  /** Monotonic clock, ms. Default performance.now(). */
  now?: () => number;
  /** WebSocket constructor (for tests). Default the global WebSocket. */
  WebSocket?: typeof WebSocket;
}

/** Builds the WebSocket URL of a stream from an http(s) or ws(s) base URL. */
export function wsURL(baseURL: string, stream: string, params?: Record<string, string>): string {
  const u = new URL(baseURL);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  const base = u.pathname.replace(/\/+$/, '');
  u.pathname = `${base}/ws/${encodeURIComponent(stream)}`;
  u.search = '';
  u.hash = '';
  if (params) for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

export class WsTransport implements Transport {
  readonly kind = 'ws' as const;
  private readonly opts: Required<Omit<WsTransportOptions, 'WebSocket'>> & { WebSocket: typeof WebSocket };
  private readonly listener: TransportListener;
  private ws: WebSocket | undefined;
  private pendingInit: InitMessage | undefined;
  private serverError: CloseInfo['serverError'];
  private timers: ReturnType<typeof setTimeout>[] = [];
  private interval: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(opts: WsTransportOptions, listener: TransportListener) {
    this.opts = {
      url: opts.url,
      burstPings: opts.burstPings ?? 5,
      burstSpacingMs: opts.burstSpacingMs ?? 100,
      pingIntervalMs: opts.pingIntervalMs ?? 3000,
      now: opts.now ?? (() => performance.now()),
      WebSocket: opts.WebSocket ?? WebSocket,
    };
    this.listener = listener;
  }

  connect(): void {
    if (this.ws || this.closed) return;
    let ws: WebSocket;
    try {
      ws = new this.opts.WebSocket(this.opts.url);
    } catch (err) {
      this.finish({ code: 1006, reason: String(err) });
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.listener.onOpen();
      this.startPings();
    };
    ws.onmessage = (ev: MessageEvent) => this.onMessage(ev.data);
    ws.onerror = () => {
      /* the close event follows and carries the details */
    };
    ws.onclose = (ev: CloseEvent) => this.finish({ code: ev.code, reason: ev.reason });
  }

  close(): void {
    if (this.closed) return;
    const ws = this.ws;
    if (ws && (ws.readyState === ws.CONNECTING || ws.readyState === ws.OPEN)) {
      try {
        ws.close(1000, 'client closed');
      } catch {
        /* ignore */
      }
    }
    this.finish({ code: 1000, reason: 'client closed' });
  }

  private onMessage(data: unknown): void {
    if (this.closed) return;
    const now = this.opts.now();
    if (typeof data === 'string') {
      let msg;
      try {
        msg = parseServerMessage(data);
      } catch (err) {
        this.fail(err instanceof ProtocolError ? err.message : String(err));
        return;
      }
      switch (msg.type) {
        case 'hello':
          if (msg.version !== 1) {
            this.fail(`unsupported protocol version ${msg.version}`);
            return;
          }
          this.listener.onHello(msg.stream, msg.serverTime, now);
          break;
        case 'init':
          this.pendingInit = msg;
          break;
        case 'status':
          this.listener.onStatus(msg.state);
          break;
        case 'error':
          this.serverError = { code: msg.code, message: msg.message };
          break;
        case 'pong':
          this.listener.onPong(msg.clientTime, msg.serverTime, now);
          break;
        case 'cue':
          this.listener.onCue(msg.cue);
          break;
        case 'unknown':
          break;
      }
      return;
    }
    if (!(data instanceof ArrayBuffer)) return;
    const bytes = new Uint8Array(data);
    if (this.pendingInit) {
      const init = this.pendingInit;
      this.pendingInit = undefined;
      this.listener.onInit(init, bytes);
      return;
    }
    this.listener.onMedia(bytes, now);
  }

  private startPings(): void {
    const ping = () => {
      const ws = this.ws;
      if (!ws || ws.readyState !== ws.OPEN) return;
      try {
        ws.send(pingMessage(this.opts.now()));
      } catch {
        /* the close event follows */
      }
    };
    for (let i = 0; i < this.opts.burstPings; i++) this.timers.push(setTimeout(ping, i * this.opts.burstSpacingMs));
    this.interval = setInterval(ping, this.opts.pingIntervalMs);
  }

  private fail(reason: string): void {
    this.serverError ??= { code: 'protocol_error', message: reason };
    try {
      this.ws?.close(4000, 'protocol error');
    } catch {
      /* ignore */
    }
    this.finish({ code: 4000, reason });
  }

  private finish(info: CloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (this.interval !== undefined) clearInterval(this.interval);
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    }
    if (this.serverError) info.serverError = this.serverError;
    this.listener.onClose(info);
  }
}
