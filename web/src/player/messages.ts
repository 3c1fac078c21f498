/**
 * The JSON messages of the WebSocket playback protocol (docs/ws-protocol.md),
 * parsed and validated. Pure. Unknown message types parse as `unknown` and
 * are ignored by the transport, so a newer server can add messages.
 */
import type { Cue } from './cues.js';

/** A track as the `init` message announces it. */
export interface TrackInfo {
  id: number;
  kind: 'video' | 'audio' | string;
  codec: string;
  timescale: number;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
}

export interface HelloMessage {
  type: 'hello';
  version: number;
  stream: string;
  serverTime: number;
}
export interface InitMessage {
  type: 'init';
  mime: string;
  tracks: TrackInfo[];
}
export interface StatusMessage {
  type: 'status';
  state: 'live' | 'waiting' | 'ended';
}
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}
export interface PongMessage {
  type: 'pong';
  clientTime: number;
  serverTime: number;
}
/** A cue, in seconds on the server's media timeline (before any timestampOffset). */
export interface CueMessage {
  type: 'cue';
  cue: Cue;
}
export interface UnknownMessage {
  type: 'unknown';
  raw: unknown;
}

export type ServerMessage =
  | HelloMessage
  | InitMessage
  | StatusMessage
  | ErrorMessage
  | PongMessage
  | CueMessage
  | UnknownMessage;

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (o: Obj, k: string): number => {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProtocolError(`${String(o['type'])}: ${k} must be a number`);
  return v;
};
const str = (o: Obj, k: string): string => {
  const v = o[k];
  if (typeof v !== 'string') throw new ProtocolError(`${String(o['type'])}: ${k} must be a string`);
  return v;
};
const optNum = (o: Obj, k: string): number | undefined => (typeof o[k] === 'number' ? (o[k] as number) : undefined);

function parseTrack(v: unknown): TrackInfo {
  if (!isObj(v)) throw new ProtocolError('init: track must be an object');
  const t: TrackInfo = { id: num(v, 'id'), kind: str(v, 'kind'), codec: str(v, 'codec'), timescale: num(v, 'timescale') };
  for (const k of ['width', 'height', 'sampleRate', 'channels'] as const) {
    const x = optNum(v, k);
    if (x !== undefined) t[k] = x;
  }
  return t;
}

/**
 * Parses a cue carried as `{"type":"cue","cue":{...}}` or with the cue's
 * fields at the top level (then the application type is `cueType` or `kind`,
 * since `type` is the message type). mediaTime is in seconds.
 */
export function parseCue(o: Obj): Cue {
  const c = isObj(o['cue']) ? o['cue'] : o;
  const id = c['id'];
  if (typeof id !== 'string' && typeof id !== 'number') throw new ProtocolError('cue: id must be a string or number');
  const mediaTime = num(c, 'mediaTime');
  const t = c === o ? (c['cueType'] ?? c['kind']) : c['type'];
  return { id: String(id), mediaTime, type: typeof t === 'string' ? t : '', payload: c['payload'] ?? null };
}

/** Parses one text message. Throws ProtocolError on malformed known messages. */
export function parseServerMessage(text: string): ServerMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new ProtocolError('message is not JSON');
  }
  if (!isObj(v)) throw new ProtocolError('message is not an object');
  switch (v['type']) {
    case 'hello':
      return { type: 'hello', version: num(v, 'version'), stream: str(v, 'stream'), serverTime: num(v, 'serverTime') };
    case 'init': {
      const tracks = v['tracks'];
      if (!Array.isArray(tracks)) throw new ProtocolError('init: tracks must be an array');
      return { type: 'init', mime: str(v, 'mime'), tracks: tracks.map(parseTrack) };
    }
    case 'status': {
      const state = str(v, 'state');
      if (state !== 'live' && state !== 'waiting' && state !== 'ended') throw new ProtocolError(`status: unknown state ${state}`);
      return { type: 'status', state };
    }
    case 'error':
      return { type: 'error', code: str(v, 'code'), message: typeof v['message'] === 'string' ? v['message'] : '' };
    case 'pong':
      return { type: 'pong', clientTime: num(v, 'clientTime'), serverTime: num(v, 'serverTime') };
    case 'cue':
      return { type: 'cue', cue: parseCue(v) };
    default:
      return { type: 'unknown', raw: v };
  }
}

/** Encodes a ping. */
export function pingMessage(clientTime: number): string {
  return JSON.stringify({ type: 'ping', clientTime });
}
