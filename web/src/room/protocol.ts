/**
 * The viewer channel's wire format (roomapi/live.go, interact/state.go):
 * the JSON the server sends down and the commands a client sends up.
 * Pure: parsing and validation only, so it is unit-tested.
 *
 * Down, one JSON object per WebSocket text message:
 *
 *   {"type":"session","token","viewer","name","role","expiresAt"}   a token the server issued
 *   {"type":"snapshot","seq":N,"data":{chat,pinned,slowMode,chatSync,poll,questions,viewers}}
 *   {"type":"events","resumed"?:true,"events":[{"seq"?:N,"type","data"?},...]}
 *   {"type":"result","key":K,"seq":N,"id":ID} | {"type":"result","key":K,"error":{code,message}}
 *   {"type":"error","error":{code,message}}   a command that could not be read
 */

export type Role = 'viewer' | 'moderator' | 'host';

/** A session token and whom it names (POST /api/v1/session, or issued on connect). */
export interface Session {
  token: string;
  viewer: string;
  name: string;
  role: Role;
  /** RFC 3339. */
  expiresAt: string;
}

export interface ChatMessage {
  id: string;
  seq: number;
  viewer: string;
  name: string;
  role: Role;
  text: string;
  at: string;
  /**
   * The media time (s, the stream's timeline) the message belongs to: the
   * frame on the poster's screen, else the stream's newest frame when the
   * server took it.
   */
  mediaTime?: number;
  /** Set while held for moderation (staff only see it then). */
  heldUntil?: string;
}

export type PollStatus = 'draft' | 'open' | 'closed';

export interface PollView {
  id: string;
  question: string;
  options: string[];
  multiple: boolean;
  maxChoices?: number;
  changeable: boolean;
  /** "live": tally shown as votes come in; "close": at close only. */
  results: 'live' | 'close';
  duration?: number;
  status: PollStatus;
  createdAt: string;
  openedAt?: string;
  closesAt?: string;
  closedAt?: string;
  /** Absent while the results are hidden from the reader. */
  tally?: number[];
  voters?: number;
}

export type QuestionStatus = 'pending' | 'visible' | 'hidden';

export interface QuestionView {
  id: string;
  seq: number;
  viewer: string;
  name: string;
  text: string;
  at: string;
  mediaTime?: number;
  status: QuestionStatus;
  upvotes: number;
  answered: boolean;
}

export interface Snapshot {
  seq: number;
  viewers: number;
  chat: ChatMessage[];
  pinned?: ChatMessage | null;
  slowMode: number;
  /** Spoiler-free chat: pages show each message when the viewer's picture reaches its mediaTime. */
  chatSync?: boolean;
  /** The open poll, or the last closed one. */
  poll?: PollView | null;
  questions: QuestionView[];
  /** Staff only: viewer id → "permanent" or the RFC 3339 end of a timeout. */
  bans?: Record<string, string>;
}

/** One event of an events message. Logged events have a sequence; reactions and presence do not. */
export interface RoomEvent {
  seq?: number;
  type: string;
  data?: unknown;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}

export type DownMessage =
  | ({ type: 'session' } & Session)
  | { type: 'snapshot'; seq: number; data: Snapshot }
  | { type: 'events'; resumed?: boolean; events: RoomEvent[] }
  | { type: 'result'; key?: string; seq?: number; id?: string; error?: ApiErrorBody }
  | { type: 'error'; error: ApiErrorBody };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function apiError(v: unknown): ApiErrorBody | undefined {
  if (!isObj(v) || typeof v['code'] !== 'string') return undefined;
  return { code: v['code'], message: typeof v['message'] === 'string' ? v['message'] : v['code'] };
}

/**
 * Parses one message of the viewer channel. Returns null for anything that
 * is not a well-formed message of a known type (ignored by the client: a
 * newer server may send more).
 */
export function parseDown(text: string): DownMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObj(m)) return null;
  switch (m['type']) {
    case 'session':
      if (typeof m['token'] !== 'string' || typeof m['viewer'] !== 'string') return null;
      return {
        type: 'session',
        token: m['token'],
        viewer: m['viewer'],
        name: typeof m['name'] === 'string' ? m['name'] : '',
        role: (m['role'] as Role) ?? 'viewer',
        expiresAt: typeof m['expiresAt'] === 'string' ? m['expiresAt'] : '',
      };
    case 'snapshot': {
      const d = m['data'];
      if (!isSeq(m['seq']) || !isObj(d)) return null;
      const snap: Snapshot = {
        seq: m['seq'],
        viewers: typeof d['viewers'] === 'number' ? d['viewers'] : 0,
        chat: Array.isArray(d['chat']) ? (d['chat'] as ChatMessage[]) : [],
        pinned: isObj(d['pinned']) ? (d['pinned'] as unknown as ChatMessage) : null,
        slowMode: typeof d['slowMode'] === 'number' ? d['slowMode'] : 0,
        chatSync: d['chatSync'] === true,
        poll: isObj(d['poll']) ? (d['poll'] as unknown as PollView) : null,
        questions: Array.isArray(d['questions']) ? (d['questions'] as QuestionView[]) : [],
      };
      if (isObj(d['bans'])) snap.bans = d['bans'] as Record<string, string>;
      return { type: 'snapshot', seq: m['seq'], data: snap };
    }
    case 'events': {
      if (!Array.isArray(m['events'])) return null;
      const events: RoomEvent[] = [];
      for (const e of m['events']) {
        if (!isObj(e) || typeof e['type'] !== 'string') continue;
        const ev: RoomEvent = { type: e['type'] };
        if (isSeq(e['seq'])) ev.seq = e['seq'];
        if ('data' in e) ev.data = e['data'];
        events.push(ev);
      }
      return m['resumed'] === true ? { type: 'events', resumed: true, events } : { type: 'events', events };
    }
    case 'result': {
      const r: DownMessage & { type: 'result' } = { type: 'result' };
      if (typeof m['key'] === 'string') r.key = m['key'];
      if (isSeq(m['seq'])) r.seq = m['seq'];
      if (typeof m['id'] === 'string') r.id = m['id'];
      const err = apiError(m['error']);
      if (err) r.error = err;
      return r;
    }
    case 'error': {
      const err = apiError(m['error']);
      return err ? { type: 'error', error: err } : null;
    }
  }
  return null;
}

/** What errors mean to a viewer, by the API's stable codes. */
const ERROR_TEXT: Record<string, string> = {
  rate_limited: 'You are sending too fast. Wait a moment and try again.',
  slow_mode: 'Slow mode is on: wait a little before your next message.',
  banned: 'You are banned from this chat.',
  too_long: 'That is too long.',
  poll_not_open: 'The poll is not open.',
  poll_closed: 'The poll has closed.',
  already_voted: 'You have already voted.',
  rejected: 'Your message was rejected by moderation.',
  forbidden: 'You are not allowed to do that.',
  unauthorized: 'Your session has expired. Reload the page.',
  limit_reached: 'A limit of this room is reached.',
  unavailable: 'The room is unavailable right now. Try again.',
  timeout: 'The server did not confirm in time. Try again.',
  closed: 'The server is restarting. Try again in a moment.',
  offline: 'Not connected. Your message will be sent when the connection is back.',
};

/**
 * A message for people about an API error. The server's message is kept
 * when it says more (a timeout's end, the slow-mode interval).
 */
export function describeError(e: ApiErrorBody): string {
  const base = ERROR_TEXT[e.code];
  if (!base) return e.message || e.code;
  if ((e.code === 'banned' || e.code === 'slow_mode' || e.code === 'too_long') && e.message && !/^you are banned from this chat$/i.test(e.message)) {
    if (e.code === 'banned') {
      const m = /until (\S+)/.exec(e.message);
      if (m && m[1]) {
        const t = new Date(m[1]);
        if (!Number.isNaN(t.getTime())) return `You are timed out until ${t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}.`;
      }
      return base;
    }
    return `${base.replace(/\.$/, '')} (${e.message}).`;
  }
  return base;
}
