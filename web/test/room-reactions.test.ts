import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BurstAggregator, particlesFor, TapBatcher } from '../src/room/reactions.js';
import { FakeTimers } from './fake-timers.js';

test('particlesFor: one each up to 3, then logarithmic, bounded', () => {
  assert.deepEqual([0, 1, 2, 3].map((n) => particlesFor(n)), [0, 1, 2, 3]);
  assert.equal(particlesFor(6), 5);
  assert.equal(particlesFor(24), 9);
  assert.equal(particlesFor(100_000), 12);
  assert.equal(particlesFor(NaN), 0);
  assert.equal(particlesFor(-3), 0);
  for (let n = 1; n < 1000; n++) assert.ok(particlesFor(n + 1) >= particlesFor(n));
});

test('BurstAggregator: own taps are not shown twice', () => {
  const a = new BurstAggregator();
  a.local('🔥', 2);
  assert.deepEqual(a.remote({ '🔥': 3, '❤️': 1 }), [
    { emoji: '🔥', particles: 1, count: 1 },
    { emoji: '❤️', particles: 1, count: 1 },
  ]);
  // Only two taps to subtract: a later window is all others'.
  assert.deepEqual(a.remote({ '🔥': 2 }), [{ emoji: '🔥', particles: 2, count: 2 }]);
  // Own taps echoed over two windows.
  a.local('👏', 3);
  assert.deepEqual(a.remote({ '👏': 1 }), []);
  assert.deepEqual(a.remote({ '👏': 2 }), []);
  assert.deepEqual(a.remote({ '👏': 1 }), [{ emoji: '👏', particles: 1, count: 1 }]);
});

test('BurstAggregator: a window is bounded, biggest first, one of each kept', () => {
  const a = new BurstAggregator(12, 10);
  const out = a.remote({ '❤️': 5000, '😂': 4000, '👏': 1, '🔥': 3000, '😮': 2 });
  assert.equal(out.reduce((s, b) => s + b.particles, 0), 10);
  assert.deepEqual(out.map((b) => b.emoji), ['❤️', '😂', '🔥', '😮', '👏']);
  for (const b of out) assert.ok(b.particles >= 1);
});

test('TapBatcher: one command per emoji per window, count at most 10', () => {
  const t = new FakeTimers();
  const sent: [string, number][] = [];
  const b = new TapBatcher((e, n) => sent.push([e, n]), 250, 10, t.setTimeout);
  for (let i = 0; i < 13; i++) b.tap('🔥');
  b.tap('❤️');
  assert.deepEqual(sent, []);
  t.advance(250);
  assert.deepEqual(sent, [['🔥', 10], ['❤️', 1]]);
  t.advance(250);
  assert.deepEqual(sent.at(-1), ['🔥', 3]);
  t.advance(1000);
  assert.equal(sent.length, 3);
  assert.equal(t.pending, 0);
});
