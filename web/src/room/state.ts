/**
 * A room as the client knows it: the projection of the viewer channel's
 * snapshot and events (interact/state.go's outputs). Pure, so it is
 * unit-tested; the pages render from it.
 *
 * Events are applied idempotently (a resumed batch may repeat what a
 * previous connection delivered): chat messages and questions are upserted
 * by id, a poll's status never goes back (a late "opened" after "closed" is
 * ignored).
 */
import type { ChatMessage, PollView, QuestionView, RoomEvent, Snapshot } from './protocol.js';

export interface RoomState {
  /** Oldest first. */
  chat: ChatMessage[];
  pinned: ChatMessage | null;
  /** Seconds between a viewer's messages; 0 is off. */
  slowMode: number;
  /** Spoiler-free chat: the watch page holds messages until the picture reaches them (chat-hold.ts). */
  chatSync: boolean;
  /** The open poll, else the last closed one (what a viewer sees). */
  poll: PollView | null;
  /** Every poll seen, by id (drafts for staff). */
  polls: Map<string, PollView>;
  /** Questions by id (pending and hidden ones for staff only). */
  questions: Map<string, QuestionView>;
  viewers: number;
  /** Staff: viewer id → "permanent" or the end of a timeout (RFC 3339). */
  bans: Map<string, string>;
  /** Staff see held messages and pending questions. */
  staff: boolean;
}

/** Chat messages kept. */
export const MAX_CHAT = 200;

/** What an event changed, for rendering only what needs it. */
export type Part = 'chat' | 'pinned' | 'slow' | 'sync' | 'poll' | 'questions' | 'viewers' | 'bans';

export function emptyRoom(staff = false): RoomState {
  return { chat: [], pinned: null, slowMode: 0, chatSync: false, poll: null, polls: new Map(), questions: new Map(), viewers: 0, bans: new Map(), staff };
}

/** Replaces the state with a snapshot's. */
export function applySnapshot(st: RoomState, s: Snapshot): Set<Part> {
  st.chat = [...s.chat].sort((a, b) => a.seq - b.seq).slice(-MAX_CHAT);
  st.pinned = s.pinned ?? null;
  st.slowMode = s.slowMode;
  st.chatSync = s.chatSync === true;
  st.poll = s.poll ?? null;
  if (st.poll) st.polls.set(st.poll.id, st.poll);
  st.questions = new Map(s.questions.map((q) => [q.id, q]));
  st.viewers = s.viewers;
  if (s.bans) st.bans = new Map(Object.entries(s.bans));
  return new Set<Part>(['chat', 'pinned', 'slow', 'sync', 'poll', 'questions', 'viewers', 'bans']);
}

const rank: Record<string, number> = { draft: 0, open: 1, closed: 2 };

function upsertChat(st: RoomState, m: ChatMessage): void {
  const i = st.chat.findIndex((x) => x.id === m.id);
  if (i >= 0) {
    st.chat[i] = m;
    return;
  }
  // Usually the newest: append; else insert in sequence order.
  let j = st.chat.length;
  while (j > 0 && st.chat[j - 1]!.seq > m.seq) j--;
  st.chat.splice(j, 0, m);
  if (st.chat.length > MAX_CHAT) st.chat.splice(0, st.chat.length - MAX_CHAT);
}

function setPoll(st: RoomState, p: PollView): boolean {
  const old = st.polls.get(p.id);
  if (old && rank[old.status]! > rank[p.status]!) return false; // a stale view
  st.polls.set(p.id, p);
  const cur = st.poll;
  if (p.status === 'open' || (p.status === 'closed' && (!cur || cur.id === p.id || cur.status !== 'open'))) st.poll = p;
  return true;
}

/**
 * Applies one event; returns the parts of the state it changed (empty
 * when it changed nothing or is unknown).
 */
export function applyEvent(st: RoomState, ev: RoomEvent): Set<Part> {
  const out = new Set<Part>();
  const d = (ev.data ?? {}) as Record<string, unknown>;
  switch (ev.type) {
    case 'chat.message': {
      const m = ev.data as ChatMessage;
      if (!m || typeof m.id !== 'string') break;
      upsertChat(st, m);
      out.add('chat');
      break;
    }
    case 'chat.deleted': {
      const id = d['id'];
      const n = st.chat.length;
      st.chat = st.chat.filter((m) => m.id !== id);
      if (st.chat.length !== n) out.add('chat');
      if (st.pinned?.id === id) {
        st.pinned = null;
        out.add('pinned');
      }
      break;
    }
    case 'chat.pinned':
      if (ev.data && typeof (ev.data as ChatMessage).id === 'string') {
        st.pinned = ev.data as ChatMessage;
        out.add('pinned');
      }
      break;
    case 'chat.unpinned':
      if (st.pinned) {
        st.pinned = null;
        out.add('pinned');
      }
      break;
    case 'chat.slow':
      st.slowMode = typeof d['seconds'] === 'number' ? d['seconds'] : 0;
      out.add('slow');
      break;
    case 'chat.sync':
      st.chatSync = d['enabled'] === true;
      out.add('sync');
      break;
    case 'mod.banned': {
      const v = d['viewer'];
      if (typeof v !== 'string') break;
      st.bans.set(v, typeof d['until'] === 'string' ? d['until'] : 'permanent');
      out.add('bans');
      const n = st.chat.length;
      st.chat = st.chat.filter((m) => m.viewer !== v);
      if (st.chat.length !== n) out.add('chat');
      if (st.pinned?.viewer === v) {
        st.pinned = null;
        out.add('pinned');
      }
      break;
    }
    case 'mod.unbanned':
      if (typeof d['viewer'] === 'string' && st.bans.delete(d['viewer'])) out.add('bans');
      break;
    case 'poll.created':
    case 'poll.opened':
    case 'poll.closed': {
      const p = ev.data as PollView;
      if (p && typeof p.id === 'string' && setPoll(st, p)) out.add('poll');
      break;
    }
    case 'poll.results': {
      const id = d['id'];
      const tally = d['tally'];
      if (typeof id !== 'string' || !Array.isArray(tally)) break;
      const p = st.polls.get(id) ?? (st.poll?.id === id ? st.poll : undefined);
      // Results of a closed poll come with its closed view; a late update is stale.
      if (!p || p.status === 'closed') break;
      const np: PollView = { ...p, tally: tally as number[], voters: typeof d['voters'] === 'number' ? d['voters'] : p.voters ?? 0 };
      st.polls.set(id, np);
      if (st.poll?.id === id) st.poll = np;
      out.add('poll');
      break;
    }
    case 'qa.question': {
      const q = ev.data as QuestionView;
      if (!q || typeof q.id !== 'string') break;
      if (q.status !== 'visible' && !st.staff) {
        if (st.questions.delete(q.id)) out.add('questions');
      } else {
        st.questions.set(q.id, q);
        out.add('questions');
      }
      break;
    }
    case 'qa.hidden': {
      const id = d['id'];
      if (typeof id !== 'string') break;
      const q = st.questions.get(id);
      if (!q) break;
      if (st.staff) st.questions.set(id, { ...q, status: 'hidden' });
      else st.questions.delete(id);
      out.add('questions');
      break;
    }
    case 'presence':
      if (typeof d['viewers'] === 'number') {
        st.viewers = d['viewers'];
        out.add('viewers');
      }
      break;
  }
  return out;
}

/**
 * Questions in display order: unanswered first, then by upvotes (most
 * first), then oldest first (the server's order, interact/state.go).
 */
export function sortedQuestions(qs: Iterable<QuestionView>, status: string = 'visible'): QuestionView[] {
  return [...qs]
    .filter((q) => q.status === status)
    .sort((a, b) => Number(a.answered) - Number(b.answered) || b.upvotes - a.upvotes || a.seq - b.seq);
}
