import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaders, percentages, pollStatusLine, resultsShown, timeLeft, voteAction } from '../src/room/poll.js';
import type { PollView } from '../src/room/protocol.js';

const poll = (extra: Partial<PollView> = {}): PollView => ({
  id: 'p1', question: 'Q?', options: ['a', 'b', 'c'], multiple: false, changeable: false, results: 'live', status: 'open', createdAt: '2025-01-01T00:00:00Z', ...extra,
});

test('percentages: single choice adds up to 100 by largest remainder', () => {
  const cases: [number[], number[]][] = [
    [[1, 1, 1], [34, 33, 33]],
    [[0, 0, 0], [0, 0, 0]],
    [[2, 1], [67, 33]],
    [[1, 0, 0], [100, 0, 0]],
    [[1, 1, 1, 1, 1, 1, 1], [15, 15, 14, 14, 14, 14, 14]],
    [[995, 5], [100, 0]],
    [[994, 6], [99, 1]],
  ];
  for (const [tally, want] of cases) {
    const got = percentages(tally);
    assert.deepEqual(got, want, tally.join(','));
    if (tally.some((t) => t > 0)) assert.equal(got.reduce((a, b) => a + b, 0), 100);
  }
});

test('percentages: multiple choice is the share of voters', () => {
  assert.deepEqual(percentages([3, 2, 1], 4, true), [75, 50, 25]);
  assert.deepEqual(percentages([0, 0], 0, true), [0, 0]);
});

test('leaders', () => {
  assert.deepEqual(leaders([1, 3, 3]), [1, 2]);
  assert.deepEqual(leaders([0, 0]), []);
});

test('timeLeft and the status line', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(timeLeft('2025-01-01T00:01:05Z', now), '1:05');
  assert.equal(timeLeft('2025-01-01T02:00:00Z', now), '2:00:00');
  assert.equal(timeLeft('2024-12-31T00:00:00Z', now), '');
  assert.equal(pollStatusLine(poll({ closesAt: '2025-01-01T00:00:42Z', tally: [1, 0, 0], voters: 1 }), now), 'Open · 0:42 left · 1 vote');
  assert.equal(pollStatusLine(poll({ results: 'close' }), now), 'Open · results at close');
  assert.equal(pollStatusLine(poll({ status: 'closed', tally: [5, 2, 0], voters: 7, multiple: true, maxChoices: 2 }), now), 'Closed · 7 votes · pick up to 2');
});

test('resultsShown and voteAction', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(resultsShown(poll()), 'hidden');
  assert.equal(resultsShown(poll({ tally: [0, 0, 0] })), 'live');
  assert.equal(resultsShown(poll({ tally: [0, 0, 0], status: 'closed' })), 'final');
  assert.deepEqual(voteAction(poll(), undefined, now), { enabled: true, label: 'Vote' });
  assert.deepEqual(voteAction(poll(), [1], now), { enabled: false, label: 'Voted' });
  assert.deepEqual(voteAction(poll({ changeable: true }), [1], now), { enabled: true, label: 'Change vote' });
  assert.deepEqual(voteAction(poll({ status: 'closed' }), undefined, now), { enabled: false, label: 'Voting closed' });
  assert.equal(voteAction(poll({ closesAt: '2024-12-31T23:59:59Z' }), undefined, now).enabled, false);
});
