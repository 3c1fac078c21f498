/**
 * RoomClient ties a viewer channel to a room state for a page: it keeps
 * the session token (SessionStore), applies the snapshot and events, and
 * calls render() once per animation frame with what changed. A page may
 * route events through a CueSync (the watch page, to show changes with the
 * picture) by setting route.
 */
import { api, roomPath, SessionStore } from './api.js';
import { CommandError, ViewerChannel, type ChannelStatus, type CommandResult } from './channel.js';
import type { Command } from './commands.js';
import { describeError, type Role, type RoomEvent, type Session } from './protocol.js';
import { applyEvent, applySnapshot, emptyRoom, type Part, type RoomState } from './state.js';

export interface RoomClientOptions {
  stream: string;
  role: Role;
  /** Renders the parts of the state that changed. */
  render: (st: RoomState, parts: Set<Part>) => void;
  /** Reactions: a window's counts. */
  reactions?: (counts: Record<string, number>) => void;
  status?: (s: ChannelStatus) => void;
  /** A session was issued or replaced. */
  session?: (s: Session) => void;
  /** The display name for a token the server issues on connect. */
  name?: () => string | undefined;
}

export class RoomClient {
  readonly state: RoomState;
  readonly channel: ViewerChannel;
  readonly sessions: SessionStore;
  session: Session | null;
  /**
   * Where channel events go: by default applied at once. The watch page
   * sends them through its CueSync (resumed ones, being old, go straight).
   */
  route: (ev: RoomEvent, resumed: boolean) => void = (ev) => this.apply(ev);
  /** After a snapshot replaced the state. */
  onSnapshot: () => void = () => undefined;
  private parts = new Set<Part>();
  private frame = 0;

  constructor(private readonly o: RoomClientOptions) {
    this.state = emptyRoom(o.role !== 'viewer');
    this.sessions = new SessionStore(o.role);
    this.session = this.sessions.get();
    this.channel = new ViewerChannel({
      stream: o.stream,
      token: () => this.session?.token,
      name: () => o.name?.(),
      checkToken: async (token) => {
        try {
          await api('GET', roomPath(o.stream, '/room'), { token });
          return true;
        } catch (err) {
          return (err as { status?: number }).status !== 401;
        }
      },
    });
    this.channel.on('session', (s) => this.setSession(s));
    this.channel.on('badtoken', () => {
      this.sessions.clear();
      this.session = null;
      if (o.role === 'viewer') this.channel.reconnect();
    });
    this.channel.on('snapshot', (snap) => {
      for (const p of applySnapshot(this.state, snap)) this.parts.add(p);
      this.onSnapshot();
      this.schedule();
    });
    this.channel.on('events', ({ events, resumed }) => {
      for (const ev of events) {
        if (ev.type === 'reactions') {
          const c = (ev.data as { counts?: Record<string, number> } | undefined)?.counts;
          if (c && !resumed) o.reactions?.(c);
          continue;
        }
        this.route(ev, resumed);
      }
    });
    if (o.status) this.channel.on('status', o.status);
  }

  /** Applies one event now and schedules a render. */
  apply(ev: RoomEvent): void {
    const changed = applyEvent(this.state, ev);
    if (changed.size === 0) return;
    for (const p of changed) this.parts.add(p);
    this.schedule();
  }

  /** Marks parts to render (e.g. a timer changed how they look). */
  invalidate(...parts: Part[]): void {
    for (const p of parts) this.parts.add(p);
    this.schedule();
  }

  setSession(s: Session): void {
    this.session = s;
    this.sessions.set(s);
    this.o.session?.(s);
  }

  /** Sends a command; rejects with an Error whose message is for people (and .code). */
  async send(cmd: Command): Promise<CommandResult> {
    try {
      return await this.channel.send(cmd);
    } catch (err) {
      if (err instanceof CommandError) throw Object.assign(new Error(describeError(err)), { code: err.code });
      throw err;
    }
  }

  connect(): void {
    this.channel.connect();
  }

  private schedule(): void {
    if (this.frame) return;
    const run = () => {
      this.frame = 0;
      const parts = this.parts;
      this.parts = new Set();
      this.o.render(this.state, parts);
    };
    // rAF pauses in background tabs; a timeout keeps the state current there.
    this.frame = document.hidden ? (setTimeout(run, 250) as unknown as number) : requestAnimationFrame(run);
  }
}
