/**
 * ViewerChannel is one client of the viewer channel,
 * GET /api/v1/streams/{stream}/live (roomapi/live.go): events down,
 * commands up, over one WebSocket.
 *
 * Life cycle: new ViewerChannel(opts) → connect() → ... → close(). It
 * reconnects on its own with exponential backoff and jitter, resuming with
 * ?since=SEQ (the highest event sequence it has seen), so the server sends
 * only what was missed (or a new snapshot if it no longer has it).
 * Commands carry an idempotency key; those not yet answered when the
 * connection drops are sent again on the next one (the server applies a
 * key once), and each send() settles with the server's verdict.
 *
 *   'status'   ChannelStatus  connecting → open ⇄ reconnecting, closed
 *   'session'  Session        the server issued a token (store it)
 *   'snapshot' Snapshot       the room's state (on join, or when a resume was too old)
 *   'events'   {events, resumed}
 *   'badtoken' void           the stored token was refused: it has been dropped
 *
 * The socket and the timers are injectable, so the logic is unit-tested.
 */
import { Backoff, type BackoffOptions } from '../player/backoff.js';
import { Emitter } from '../player/events.js';
import { parseDown, type ApiErrorBody, type RoomEvent, type Session, type Snapshot } from './protocol.js';
import type { Command } from './commands.js';

export type ChannelStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ChannelEvents {
  status: ChannelStatus;
  session: Session;
  snapshot: Snapshot;
  events: { events: RoomEvent[]; resumed: boolean };
  badtoken: undefined;
}

/** The part of a WebSocket the channel uses. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** The verdict on a command: its event's sequence and the id of what it made. */
export interface CommandResult {
  seq?: number;
  id?: string;
}

/** A refused command (the API's stable code and a message). */
export class CommandError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export interface ChannelOptions {
  stream: string;
  /** Default: the page's origin. */
  baseURL?: string;
  /** The session token to present (read at every connect); none: the server issues one. */
  token?: () => string | undefined;
  /** Display name for a token the server issues. */
  name?: () => string | undefined;
  /** Checks a token the server refused to upgrade with; resolves false if it is bad. */
  checkToken?: (token: string) => Promise<boolean>;
  socket?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  /** A command not answered in this long fails with code "timeout" (ms). Default 10 000. */
  commandTimeoutMs?: number;
  /** A connection open this long resets the backoff (ms). Default 5 000. */
  healthyMs?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (h: unknown) => void;
}

/** The viewer channel's URL. */
export function liveURL(baseURL: string, stream: string, q: { token?: string | undefined; since?: number; name?: string | undefined }): string {
  const u = new URL(`/api/v1/streams/${encodeURIComponent(stream)}/live`, baseURL);
  u.protocol = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:';
  if (q.token) u.searchParams.set('token', q.token);
  else if (q.name) u.searchParams.set('name', q.name);
  if (q.since && q.since > 0) u.searchParams.set('since', String(q.since));
  return u.toString();
}

interface Pending {
  cmd: Command;
  resolve: (r: CommandResult) => void;
  reject: (e: CommandError) => void;
  timer: unknown;
  /** The connection it was last sent on (0: not sent yet). */
  conn: number;
}

export class ViewerChannel extends Emitter<ChannelEvents> {
  private readonly o: Required<Pick<ChannelOptions, 'stream' | 'baseURL' | 'commandTimeoutMs' | 'healthyMs'>> & ChannelOptions;
  private readonly backoff: Backoff;
  private readonly setT: (fn: () => void, ms: number) => unknown;
  private readonly clearT: (h: unknown) => void;
  private ws: SocketLike | null = null;
  private conn = 0;
  private opened = false;
  private retry: unknown = null;
  private healthy: unknown = null;
  private _status: ChannelStatus = 'idle';
  private _seq = 0;
  private failsBeforeOpen = 0;
  /** Sent (or waiting to be sent), in order, by key. */
  private readonly pending = new Map<string, Pending>();

  constructor(opts: ChannelOptions) {
    super();
    this.o = {
      ...opts,
      baseURL: opts.baseURL ?? (typeof location !== 'undefined' ? location.origin : 'http://localhost'),
      commandTimeoutMs: opts.commandTimeoutMs ?? 10_000,
      healthyMs: opts.healthyMs ?? 5_000,
    };
    this.backoff = new Backoff(opts.backoff);
    this.setT = opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearT = opts.clearTimeout ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  get status(): ChannelStatus {
    return this._status;
  }

  /** The highest event sequence seen: what a reconnect resumes from. */
  get seq(): number {
    return this._seq;
  }

  /** Commands sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  connect(): void {
    if (this._status === 'closed') return;
    this.clearT(this.retry);
    this.retry = null;
    this.dial();
  }

  /** Drops the connection and dials again at once (e.g. with a new token). */
  reconnect(): void {
    if (this._status === 'closed') return;
    this.drop();
    this.backoff.reset();
    this.dial();
  }

  /** Ends the channel; commands not yet answered fail with code "closed". */
  close(): void {
    this.setStatus('closed');
    this.drop();
    this.clearT(this.retry);
    for (const [key, p] of this.pending) this.settle(key, p, { code: 'closed', message: 'the channel is closed' });
  }

  /**
   * Sends a command (it must have a key) and resolves with the verdict,
   * or rejects with a CommandError. While disconnected it waits for the
   * next connection (up to the command timeout).
   */
  send(cmd: Command): Promise<CommandResult> {
    if (!cmd.key) throw new TypeError('ViewerChannel.send: the command needs a key');
    if (this._status === 'closed') return Promise.reject(new CommandError('closed', 'the channel is closed'));
    const key = cmd.key;
    return new Promise<CommandResult>((resolve, reject) => {
      const p: Pending = { cmd, resolve, reject, conn: 0, timer: null };
      p.timer = this.setT(() => this.settle(key, p, { code: 'timeout', message: 'no answer from the server' }), this.o.commandTimeoutMs);
      this.pending.set(key, p);
      this.flush();
    });
  }

  private setStatus(s: ChannelStatus): void {
    if (s === this._status) return;
    this._status = s;
    this.emit('status', s);
  }

  private dial(): void {
    this.setStatus(this.opened || this.conn > 0 ? 'reconnecting' : 'connecting');
    const token = this.o.token?.();
    const url = liveURL(this.o.baseURL, this.o.stream, { token, since: this._seq, name: this.o.name?.() });
    const ws = (this.o.socket ?? ((u: string) => new WebSocket(u) as unknown as SocketLike))(url);
    const id = ++this.conn;
    this.ws = ws;
    this.opened = false;
    ws.onopen = () => {
      if (id !== this.conn) return;
      this.opened = true;
      this.failsBeforeOpen = 0;
      this.setStatus('open');
      this.healthy = this.setT(() => this.backoff.reset(), this.o.healthyMs);
      this.flush();
    };
    ws.onmessage = (ev) => {
      if (id === this.conn && typeof ev.data === 'string') this.handle(ev.data);
    };
    ws.onerror = () => undefined;
    ws.onclose = () => {
      if (id !== this.conn) return;
      const wasOpen = this.opened;
      this.ws = null;
      this.clearT(this.healthy);
      if (this._status === 'closed') return;
      this.setStatus('reconnecting');
      if (!wasOpen && token && ++this.failsBeforeOpen >= 2 && this.o.checkToken) {
        // The upgrade was refused twice: maybe the token expired or the
        // server's key changed. Ask, and drop the token if it is bad.
        void this.o.checkToken(token).then((ok) => {
          if (!ok) {
            this.failsBeforeOpen = 0;
            this.emit('badtoken', undefined);
          }
        });
      }
      this.retry = this.setT(() => {
        this.retry = null;
        if (this._status !== 'closed') this.dial();
      }, this.backoff.next());
    };
  }

  private drop(): void {
    const ws = this.ws;
    this.ws = null;
    this.conn++;
    this.opened = false;
    this.clearT(this.healthy);
    if (ws) {
      try {
        ws.close(1000, '');
      } catch {
        // already closing
      }
    }
  }

  /** Sends every pending command not yet sent on this connection. */
  private flush(): void {
    const ws = this.ws;
    if (!ws || !this.opened || ws.readyState !== 1) return;
    for (const p of this.pending.values()) {
      if (p.conn === this.conn) continue;
      p.conn = this.conn;
      ws.send(JSON.stringify(p.cmd));
    }
  }

  private settle(key: string, p: Pending, err: ApiErrorBody | null, res?: CommandResult): void {
    if (this.pending.get(key) !== p) return;
    this.pending.delete(key);
    this.clearT(p.timer);
    if (err) p.reject(new CommandError(err.code, err.message));
    else p.resolve(res ?? {});
  }

  /** Handles one message (public for tests). */
  handle(text: string): void {
    const m = parseDown(text);
    if (!m) return;
    switch (m.type) {
      case 'session':
        this.emit('session', { token: m.token, viewer: m.viewer, name: m.name, role: m.role, expiresAt: m.expiresAt });
        break;
      case 'snapshot':
        // A snapshot replaces everything: its sequence is where we are,
        // even if lower (the server's log started over).
        this._seq = m.seq;
        this.emit('snapshot', m.data);
        break;
      case 'events':
        for (const e of m.events) if (e.seq !== undefined && e.seq > this._seq) this._seq = e.seq;
        this.emit('events', { events: m.events, resumed: m.resumed === true });
        break;
      case 'result': {
        const p = m.key !== undefined ? this.pending.get(m.key) : undefined;
        if (!p || m.key === undefined) break;
        const res: CommandResult = {};
        if (m.seq !== undefined) res.seq = m.seq;
        if (m.id !== undefined) res.id = m.id;
        this.settle(m.key, p, m.error ?? null, res);
        break;
      }
      case 'error': {
        // A command the server could not read has no key; the server
        // answers a connection's commands in order, so it is the oldest
        // one sent on this connection.
        for (const [key, p] of this.pending) {
          if (p.conn === this.conn) {
            this.settle(key, p, m.error);
            break;
          }
        }
        break;
      }
    }
  }
}
