import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../src/player/backoff.js';

test('Backoff: doubles from 0.5 s to a 10 s cap without jitter', () => {
  const b = new Backoff({ jitter: 0 });
  const got = Array.from({ length: 8 }, () => b.next());
  assert.deepEqual(got, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  assert.equal(b.attempts, 8);
  b.reset();
  assert.equal(b.next(), 500);
});

test('Backoff: jitter scales each delay into [1 - jitter, 1] of the base', () => {
  const rs = [0, 0.999999, 0.5];
  const b = new Backoff({ jitter: 0.5, random: () => rs.shift()! });
  assert.equal(b.next(), 500);
  assert.ok(Math.abs(b.next() - 500) < 0.01);
  assert.equal(b.next(), 1500);
});

test('Backoff: every delay stays within bounds with real randomness', () => {
  const b = new Backoff();
  for (let i = 0; i < 50; i++) {
    const d = b.next();
    assert.ok(d >= 250 && d <= 10000, String(d));
  }
});
