/**
 * Poll results as people read them: percentages, labels, what to show
 * while the results are hidden, the time left. Pure, so it is unit-tested.
 */
import type { PollView } from './protocol.js';

/**
 * Whole percentages of each option. Single choice: shares of all votes,
 * rounded by largest remainder so they add up to exactly 100 (ties go to
 * the earlier option). Multiple choice: each option's share of voters
 * (they may add up to more than 100), rounded to nearest.
 */
export function percentages(tally: readonly number[], voters?: number, multiple = false): number[] {
  if (multiple) {
    const n = voters ?? Math.max(0, ...tally);
    return tally.map((c) => (n > 0 ? Math.min(100, Math.round((c * 100) / n)) : 0));
  }
  const total = tally.reduce((a, b) => a + Math.max(0, b), 0);
  if (total === 0) return tally.map(() => 0);
  const exact = tally.map((c) => (Math.max(0, c) * 100) / total);
  const out = exact.map(Math.floor);
  let left = 100 - out.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    out[i]!++;
    left--;
  }
  return out;
}

/** The index(es) with the most votes; none when nobody voted. */
export function leaders(tally: readonly number[]): number[] {
  const top = Math.max(0, ...tally);
  if (top === 0) return [];
  return tally.flatMap((c, i) => (c === top ? [i] : []));
}

export const plural = (n: number, one: string, many = one + 's') => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** What a viewer can see of the results right now. */
export type ResultsShown = 'live' | 'final' | 'hidden';

export function resultsShown(p: PollView): ResultsShown {
  if (!p.tally) return 'hidden';
  return p.status === 'closed' ? 'final' : 'live';
}

/** One line under a poll: status, votes, time left. */
export function pollStatusLine(p: PollView, now: number): string {
  const parts: string[] = [];
  if (p.status === 'draft') parts.push('Draft');
  else if (p.status === 'closed') parts.push('Closed');
  else {
    const left = p.closesAt ? timeLeft(p.closesAt, now) : '';
    parts.push(left ? `Open · ${left} left` : 'Open');
  }
  if (p.voters !== undefined) parts.push(plural(p.voters, 'vote'));
  if (!p.tally && p.status !== 'closed') parts.push('results at close');
  if (p.multiple) parts.push(p.maxChoices ? `pick up to ${p.maxChoices}` : 'pick any');
  return parts.join(' · ');
}

/** m:ss until an RFC 3339 instant ('' if past or unreadable). */
export function timeLeft(until: string, now: number): string {
  const t = Date.parse(until);
  if (!Number.isFinite(t)) return '';
  const s = Math.ceil((t - now) / 1000);
  if (s <= 0) return '';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/**
 * Whether a viewer may vote now, given their earlier choices (none: not
 * voted yet), and the label of the button.
 */
export function voteAction(p: PollView, mine: readonly number[] | undefined, now: number): { enabled: boolean; label: string } {
  const expired = p.closesAt !== undefined && Date.parse(p.closesAt) <= now;
  if (p.status !== 'open' || expired) return { enabled: false, label: p.status === 'draft' ? 'Not open yet' : 'Voting closed' };
  if (!mine || mine.length === 0) return { enabled: true, label: 'Vote' };
  return p.changeable ? { enabled: true, label: 'Change vote' } : { enabled: false, label: 'Voted' };
}
