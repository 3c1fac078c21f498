import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StallDetector } from '../src/player/stall.js';

test('stall: no progress for the timeout is one stall, ended by progress', () => {
  const d = new StallDetector({ progressTimeoutMs: 500 });
  d.update(0, 1, true);
  d.update(100, 1.1, true);
  assert.equal(d.update(400, 1.1, true), false);
  assert.equal(d.update(700, 1.1, true), true); // 600 ms without progress
  assert.equal(d.stalled, true);
  assert.equal(d.stalls, 1);
  assert.equal(d.update(1000, 1.2, true), true);
  assert.equal(d.stalled, false);
  assert.equal(d.stallTime(1000), 0.9); // from the last progress at 100 ms
});

test('stall: waiting starts a stall at once; only real progress ends it', () => {
  const d = new StallDetector();
  d.update(0, 5, true);
  d.update(100, 5.1, true);
  d.onWaiting(150, 5.14);
  assert.equal(d.stalled, true);
  d.update(200, 5.14, true);
  assert.equal(d.stalled, true);
  d.update(450, 5.2, true);
  assert.equal(d.stalled, false);
  assert.equal(d.stalls, 1);
  assert.ok(Math.abs(d.stallTime(450) - 0.3) < 1e-9);
});

test('stall: nothing counts while inactive (before start, paused, seeking, publisher away)', () => {
  const d = new StallDetector();
  d.onWaiting(0, 0);
  d.update(0, 0, false);
  d.update(5000, 0, false);
  assert.equal(d.stalls, 0);
  d.update(6000, 0, true); // becomes active: the clock starts now
  d.update(6200, 0, true);
  assert.equal(d.stalled, false);
  d.update(6600, 0, true);
  assert.equal(d.stalls, 1);
  // Going inactive ends the stall and keeps its time.
  d.update(7000, 0, false);
  assert.equal(d.stalled, false);
  assert.ok(Math.abs(d.stallTime(9000) - 1.0) < 1e-9);
});
