import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveEdgeController, type PlaybackSnapshot } from '../src/player/live-edge.js';

/** A fake clock and video: ranges and currentTime that the test moves. */
function sim(opts = {}) {
  const c = new LiveEdgeController({ target: 0.15, smoothingMs: 1, ...opts });
  const s: PlaybackSnapshot = { now: 0, currentTime: 0, buffered: [], paused: false, seeking: false, playbackRate: 1 };
  const step = (dt: number, patch: Partial<PlaybackSnapshot> = {}) => {
    Object.assign(s, patch);
    s.now += dt;
    const a = c.update(s);
    if (a.seekTo !== undefined) s.currentTime = a.seekTo;
    s.playbackRate = a.playbackRate;
    return a;
  };
  return { c, s, step };
}

test('live edge: nothing buffered is idle at rate 1', () => {
  const { step } = sim();
  assert.deepEqual(step(100), { playbackRate: 1, ahead: 0, smoothedAhead: 0, reason: 'idle' });
});

test('live edge: first data seeks into the range (its start when the range is short)', () => {
  const { step } = sim();
  const a = step(100, { buffered: [[100, 100.1]] });
  assert.equal(a.reason, 'start');
  assert.equal(a.seekTo, 100);
});

test('live edge: first data with a long GOP seeks close to the live edge', () => {
  const { step } = sim();
  const a = step(100, { buffered: [[100, 102]] });
  assert.equal(a.reason, 'start');
  assert.equal(a.seekTo, 102 - 0.15);
});

test('live edge: during startup a smaller lag (0.5 s) triggers the jump to live', () => {
  const { step } = sim();
  step(100, { buffered: [[100, 100.1]] });
  // The rest of the GOP burst arrives: 0.8 s ahead.
  const a = step(600, { buffered: [[100, 100.9]], currentTime: 100.05 });
  assert.equal(a.reason, 'behind');
  assert.ok(Math.abs(a.seekTo! - 100.75) < 1e-9);
});

test('live edge: rate by buffer ahead: hold, catch up proportionally, slow down near empty', () => {
  const { step, s } = sim({ startWindowMs: 0 });
  step(100, { buffered: [[0, 0.2]] }); // start
  const cases: [number, number, string][] = [
    // ahead, expected rate, reason
    [0.15, 1, 'hold'],
    [0.19, 1, 'hold'],
    [0.2 + 0.15, 1.05, 'catchup'],
    [0.4 + 0.15, 1.1, 'catchup'],
    [1.2, 1.12, 'catchup'],
    [0.03, 0.95, 'low'],
  ];
  for (const [ahead, rate, reason] of cases) {
    s.currentTime = 10;
    const a = step(2000, { buffered: [[0, 10 + ahead]] });
    assert.equal(a.reason, reason, `ahead ${ahead}`);
    assert.equal(a.playbackRate, rate, `ahead ${ahead}`);
  }
});

test('live edge: far behind (> maxLag) seeks to bufferedEnd - target, then cools down', () => {
  const { step, s } = sim({ startWindowMs: 0, maxLag: 1.5, seekCooldownMs: 1500 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 10;
  let a = step(3000, { buffered: [[0, 12]] });
  assert.equal(a.reason, 'behind');
  assert.equal(a.seekTo, 12 - 0.15);
  s.currentTime = 5;
  a = step(500, { buffered: [[0, 12]] });
  assert.equal(a.seekTo, undefined, 'no second seek within the cooldown');
  assert.equal(a.reason, 'catchup');
  a = step(1500, { buffered: [[0, 12]] });
  assert.equal(a.seekTo, 12 - 0.15);
});

test('live edge: smoothing keeps a single jittery sample from triggering a seek', () => {
  const { step, s } = sim({ startWindowMs: 0, smoothingMs: 300 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 10;
  step(100, { buffered: [[0, 10.15]] });
  step(100, { buffered: [[0, 10.15]] });
  const a = step(100, { buffered: [[0, 12]] }); // a burst after a hiccup
  assert.equal(a.seekTo, undefined);
  assert.ok(a.smoothedAhead < 1.5);
});

test('live edge: a gap ahead is jumped; a playhead past all data waits', () => {
  const { step, s } = sim({ startWindowMs: 0 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 4.97;
  let a = step(100, { buffered: [[0, 5], [5.5, 6]] });
  assert.equal(a.reason, 'gap');
  assert.equal(a.seekTo, 6 - 0.15);
  s.currentTime = 7;
  a = step(100, { buffered: [[5.5, 6]] });
  assert.equal(a.seekTo, undefined);
  assert.equal(a.reason, 'idle');
  // The timeline moved on while the playhead was outside the data.
  s.currentTime = 3;
  a = step(100, { buffered: [[50, 51]] });
  assert.equal(a.reason, 'gap');
  assert.equal(a.seekTo, 51 - 0.15);
});

test('live edge: paused or seeking leaves the rate alone', () => {
  const { step, s } = sim({ startWindowMs: 0 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 10;
  s.playbackRate = 1.07;
  assert.equal(step(100, { buffered: [[0, 10.9]], seeking: true }).playbackRate, 1.07);
  assert.equal(step(100, { buffered: [[0, 10.9]], seeking: false, paused: true }).playbackRate, 1.07);
});

test('live edge: stuck at the seam between two ranges (stalled) jumps into the newest one', () => {
  const { step, s } = sim({ startWindowMs: 0 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 7.0;
  // 0.5 s left in the old range: keep playing it...
  let a = step(100, { buffered: [[0, 7.5], [7.6, 8.0]] });
  assert.equal(a.seekTo, undefined);
  // ...unless playback is stuck there.
  a = step(100, { buffered: [[0, 7.5], [7.6, 8.0]], stalled: true });
  assert.equal(a.reason, 'gap');
  assert.equal(a.seekTo, 8.0 - 0.15);
});

test('live edge: after restartWindow (a reconnect) a backlog above startMaxLag is jumped', () => {
  const { step, s, c } = sim({ startWindowMs: 4000 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 20;
  step(10_000, { buffered: [[0, 20.2]] });
  let a = step(100, { buffered: [[0, 20.9]] });
  assert.equal(a.seekTo, undefined, 'outside the start window 0.9 s is caught up by rate');
  c.restartWindow(s.now);
  a = step(100, { buffered: [[0, 21]] });
  assert.equal(a.reason, 'behind');
  assert.equal(a.seekTo, 21 - 0.15);
});
