/**
 * Showing room changes with the picture. The changes viewers should see
 * in step with the video (a poll opened, closed or its results, a pinned
 * message, a question answered) reach the page twice: at once on the
 * viewer channel, and as a cue in the video, fired by the player when the
 * frame it was stamped on is shown (a viewer 2 s behind live sees it 2 s
 * later). CueSync shows each change once, with the picture when it can:
 *
 * - a channel event with a sync key is held for up to hold() ms, waiting
 *   for its cue; the cue applies it (and cancels the wait), else the
 *   timeout does (no video playing, cue dropped);
 * - a cue whose change is not pending applies at once, and its key is
 *   remembered so the channel's copy, when it comes, is dropped;
 * - a change applied by timeout is remembered too, so its late cue is
 *   dropped. Remembered keys expire after ttlMs and match once.
 *
 * Pure (clock and timers injected), so it is unit-tested.
 */
import type { Cue } from '../player/cues.js';
import type { QuestionView, RoomEvent } from './protocol.js';
import type { RoomState } from './state.js';

/** Cue types the rooms post (interact/room.go), and the channel events they stand for. */
export const SYNC_CUE_TYPES = ['poll.opened', 'poll.closed', 'poll.results', 'chat.pinned', 'chat.unpinned', 'qa.answered'] as const;

/** The change a cue carries as a channel event, and its key; null for cues not from the rooms. */
export function cueEvent(cue: Pick<Cue, 'type' | 'payload'>): { key: string; event: RoomEvent } | null {
  const p = (cue.payload ?? {}) as Record<string, unknown>;
  switch (cue.type) {
    case 'poll.opened':
    case 'poll.closed':
    case 'poll.results':
    case 'chat.pinned':
      if (typeof p['id'] !== 'string') return null;
      return { key: keyOf(cue.type, p), event: { type: cue.type, data: cue.payload } };
    case 'chat.unpinned':
      return { key: 'chat.unpinned', event: { type: 'chat.unpinned' } };
    case 'qa.answered':
      if (typeof p['id'] !== 'string') return null;
      return { key: `qa.answered:${p['id']}`, event: { type: 'qa.question', data: { ...(p as object), answered: true } } };
  }
  return null;
}

function keyOf(type: string, d: Record<string, unknown>): string {
  if (type === 'poll.results') return `poll.results:${d['id']}:${Array.isArray(d['tally']) ? d['tally'].join(',') : ''}`;
  return `${type}:${d['id']}`;
}

/**
 * The sync key of a channel event, given the state before it: null when the
 * change is not one the rooms also post as a cue (apply it at once).
 */
export function channelKey(ev: RoomEvent, st: RoomState): string | null {
  const d = (ev.data ?? {}) as Record<string, unknown>;
  switch (ev.type) {
    case 'poll.opened':
    case 'poll.closed':
    case 'chat.pinned':
      return typeof d['id'] === 'string' ? keyOf(ev.type, d) : null;
    case 'poll.results': {
      // The rooms post result cues only for open polls with live results;
      // a poll not known yet is being opened (its event is held): wait too.
      if (typeof d['id'] !== 'string') return null;
      const p = st.polls.get(d['id']);
      return !p || (p.results === 'live' && p.status === 'open') ? keyOf(ev.type, d) : null;
    }
    case 'chat.unpinned':
      return st.pinned ? 'chat.unpinned' : null;
    case 'qa.question': {
      const q = ev.data as QuestionView | undefined;
      const old = q && st.questions.get(q.id);
      return q && q.answered && old && !old.answered ? `qa.answered:${q.id}` : null;
    }
  }
  return null;
}

export interface CueSyncOptions {
  /** Applies a change to the page. */
  apply: (ev: RoomEvent, via: 'channel' | 'cue') => void;
  /** How long a channel event waits for its cue, ms (0: apply at once). */
  hold: () => number;
  /** How long an applied change's key is remembered, ms. Default 30 000. */
  ttlMs?: number;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (h: unknown) => void;
}

interface Held {
  events: RoomEvent[];
  timer: unknown;
}

export class CueSync {
  private readonly held = new Map<string, Held>();
  /** key → expiry (ms): changes shown whose other copy is still to come. */
  private readonly shown = new Map<string, number>();
  private readonly now: () => number;
  private readonly setT: (fn: () => void, ms: number) => unknown;
  private readonly clearT: (h: unknown) => void;
  private readonly ttl: number;

  constructor(private readonly o: CueSyncOptions) {
    this.now = o.now ?? (() => Date.now());
    this.setT = o.setTimeout ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearT = o.clearTimeout ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.ttl = o.ttlMs ?? 30_000;
  }

  /** Changes waiting for their cue. */
  get pending(): number {
    return this.held.size;
  }

  /** A channel event with its sync key (null: apply at once). */
  channel(ev: RoomEvent, key: string | null): void {
    if (key === null) {
      this.o.apply(ev, 'channel');
      return;
    }
    this.expire();
    if (this.shown.delete(key)) return; // its cue came first
    const h = this.held.get(key);
    if (h) {
      h.events.push(ev); // the same change again (e.g. resumed): shown once with the first
      return;
    }
    const ms = Math.max(0, this.o.hold());
    if (ms === 0) {
      this.o.apply(ev, 'channel');
      this.shown.set(key, this.now() + this.ttl);
      return;
    }
    const entry: Held = { events: [ev], timer: null };
    entry.timer = this.setT(() => {
      if (this.held.get(key) !== entry) return;
      this.held.delete(key);
      this.o.apply(ev, 'channel');
      this.shown.set(key, this.now() + this.ttl);
    }, ms);
    this.held.set(key, entry);
  }

  /** A cue the player fired (with the picture). Returns whether it was a room change. */
  cue(cue: Pick<Cue, 'type' | 'payload'>): boolean {
    const c = cueEvent(cue);
    if (!c) return false;
    this.expire();
    const h = this.held.get(c.key);
    if (h) {
      this.clearT(h.timer);
      this.held.delete(c.key);
      this.o.apply(h.events[0]!, 'cue');
      return true;
    }
    if (this.shown.delete(c.key)) return true; // shown already, by the channel's timeout
    this.o.apply(c.event, 'cue');
    this.shown.set(c.key, this.now() + this.ttl);
    return true;
  }

  /** Applies everything held at once (e.g. the video stopped). */
  flush(): void {
    for (const [key, h] of [...this.held]) {
      this.clearT(h.timer);
      this.held.delete(key);
      this.o.apply(h.events[0]!, 'channel');
      this.shown.set(key, this.now() + this.ttl);
    }
  }

  /** Drops everything held (a snapshot replaced the state). */
  clear(): void {
    for (const h of this.held.values()) this.clearT(h.timer);
    this.held.clear();
  }

  private expire(): void {
    const now = this.now();
    for (const [k, t] of this.shown) if (t <= now) this.shown.delete(k);
  }
}

/**
 * How long a channel event may wait for its cue: the viewer's latency
 * (what the channel is ahead of the picture) plus a margin, within
 * [minMs, maxMs]; 0 when no video is playing (no cue will come).
 */
export function holdMs(playing: boolean, latency: number | null, marginMs = 750, minMs = 500, maxMs = 6000): number {
  if (!playing) return 0;
  const l = latency !== null && Number.isFinite(latency) && latency > 0 ? latency * 1000 : 1000;
  return Math.round(Math.min(maxMs, Math.max(minMs, l + marginMs)));
}
