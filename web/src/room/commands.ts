/**
 * Commands a viewer sends up the viewer channel (interact/command.go), and
 * the media time they carry: the media time, in seconds, of the frame on
 * the viewer's screen when they acted, by which latency-fair rules judge
 * them. Pure, so it is unit-tested.
 */

/** One command, the shape of interact.Command. */
export interface Command {
  type: string;
  key?: string;
  mediaTime?: number;
  text?: string;
  id?: string;
  viewer?: string;
  seconds?: number;
  choices?: number[];
  emoji?: string;
  count?: number;
}

/** Limits the server enforces (interact/command.go); the UI checks them first. */
export const LIMITS = { chat: 500, question: 300, reactCount: 10, key: 64 } as const;

/** The room's reactions (interact.Config.Emoji's default). */
export const EMOJI = ['❤️', '😂', '👏', '🔥', '😮', '😢', '👍', '🎉'] as const;

let counter = 0;

/** A fresh idempotency key: printable ASCII, at most 64 characters. */
export function newKey(prefix = 'c', random: () => number = Math.random): string {
  counter = (counter + 1) % 0x7fffffff;
  const r = Math.floor(random() * 0x7fffffff).toString(36);
  return `${prefix}-${Date.now().toString(36)}-${counter.toString(36)}-${r}`.slice(0, LIMITS.key);
}

/**
 * A clean media time for a command: non-negative, finite, rounded to the
 * microsecond (the server refuses NaN, infinities and negatives).
 */
export function cleanMediaTime(t: number | null | undefined): number {
  if (t === null || t === undefined || !Number.isFinite(t) || t < 0) return 0;
  return Math.round(t * 1e6) / 1e6;
}

type Fields = Omit<Command, 'type' | 'key' | 'mediaTime'>;

/**
 * Builds a command with a fresh key and the media time given; null (no
 * picture yet) leaves it out, and the server uses its own media clock.
 */
export function command(type: string, fields: Fields, mediaTime: number | null, key: string = newKey()): Command {
  const c: Command = { type, key };
  if (mediaTime !== null) c.mediaTime = cleanMediaTime(mediaTime);
  for (const [k, v] of Object.entries(fields) as [keyof Fields, unknown][]) {
    if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) (c as unknown as Record<string, unknown>)[k] = v;
  }
  return c;
}

export const chat = (text: string, mt: number | null) => command('chat.send', { text: text.trim() }, mt, newKey('m'));
export const ask = (text: string, mt: number | null) => command('qa.ask', { text: text.trim() }, mt, newKey('q'));
export const upvote = (id: string, mt: number | null) => command('qa.upvote', { id }, mt, newKey('u'));
/** A vote: choices are option indexes, distinct, in ascending order. */
export const vote = (id: string, choices: Iterable<number>, mt: number | null) =>
  command('poll.vote', { id, choices: [...new Set(choices)].sort((a, b) => a - b) }, mt, newKey('v'));
export const react = (emoji: string, count: number, mt: number | null) =>
  command('react', { emoji, count: Math.max(1, Math.min(LIMITS.reactCount, Math.floor(count))) }, mt, newKey('r'));

/**
 * Checks a chat message or question before sending: null if fine, else
 * what is wrong (counted in characters, as the server counts runes).
 */
export function checkText(text: string, max: number): string | null {
  const t = text.trim();
  if (!t) return 'Write something first.';
  const n = [...t].length;
  if (n > max) return `That is ${n} characters; at most ${max}.`;
  return null;
}
