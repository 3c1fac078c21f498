import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TARGET, LiveEdgeController, type PlaybackSnapshot } from '../src/player/live-edge.js';

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

test('live edge: the rest of the GOP landing right after the first seek jumps to the live edge at once', () => {
  const { step } = sim();
  let a = step(100, { buffered: [[100, 100.033]] }); // the keyframe alone
  assert.equal(a.reason, 'start');
  assert.equal(a.seekTo, 100);
  // 10 ms later the rest of the cached GOP has been appended: 0.9 s ahead.
  a = step(10, { buffered: [[100, 100.9]], currentTime: 100 });
  assert.equal(a.reason, 'live');
  assert.ok(Math.abs(a.seekTo! - 100.75) < 1e-9);
});

test('live edge: the start jump happens while playback has not begun (paused) too', () => {
  const { step } = sim();
  step(100, { buffered: [[100, 100.033]], paused: true });
  const a = step(10, { buffered: [[100, 100.5]], currentTime: 100, paused: true });
  assert.equal(a.reason, 'live');
  assert.ok(Math.abs(a.seekTo! - 100.35) < 1e-9);
});

test('live edge: in the start window, a small excess (within startSlack) is caught up by rate', () => {
  const { step } = sim({ startSlack: 0.05 });
  step(100, { buffered: [[100, 100.033]] });
  const a = step(10, { buffered: [[100, 100.19]], currentTime: 100 });
  assert.equal(a.seekTo, undefined);
  assert.equal(a.reason, 'catchup');
});

test('live edge: start-window jumps are spaced by startCooldownMs, except right after the first seek', () => {
  const { step, s } = sim({ startCooldownMs: 200 });
  step(100, { buffered: [[100, 100.033]] });
  assert.equal(step(10, { buffered: [[100, 100.6]] }).reason, 'live');
  // A second burst 50 ms later waits for the cooldown...
  s.currentTime += 0.05;
  let a = step(50, { buffered: [[100, 101]] });
  assert.equal(a.seekTo, undefined);
  // ...and is jumped once it has passed.
  a = step(200, { buffered: [[100, 101]] });
  assert.equal(a.reason, 'live');
  assert.ok(Math.abs(a.seekTo! - 100.85) < 1e-9);
});

test('live edge: after the start window, the same excess is caught up by rate, not jumped', () => {
  const { step, s } = sim({ startWindowMs: 3000 });
  step(100, { buffered: [[0, 0.033]] });
  s.currentTime = 10;
  const a = step(5000, { buffered: [[0, 10.6]] });
  assert.equal(a.seekTo, undefined);
  assert.equal(a.reason, 'catchup');
});

/**
 * A fake stream and video on a fake clock: a frame of 1/fps s is appended
 * every 1/fps s of wall time (its arrival shifted by jitter(i) ms), the
 * playhead moves at the playback rate, and seeks land at once.
 */
function playStream(opts: { target: number; seconds: number; backlog: number; fps?: number; jitter?: (i: number) => number; controller?: object }) {
  const fps = opts.fps ?? 30;
  const c = new LiveEdgeController({ target: opts.target, ...opts.controller });
  const s: PlaybackSnapshot = { now: 0, currentTime: 0, buffered: [], paused: false, seeking: false, playbackRate: 1 };
  const tickMs = 10;
  // The first data: a keyframe and the backlog of its GOP, in two appends.
  let end = 1 / fps;
  const frameAt = (i: number) => (i / fps) * 1000 + (opts.jitter?.(i) ?? 0);
  const live = Math.round(opts.backlog * fps); // the newest frame at the start
  let next = live + 1; // the next frame to arrive
  const trace: { now: number; ahead: number; reason: string; rate: number }[] = [];
  const seeks: string[] = [];
  for (let now = 0; now <= opts.seconds * 1000; now += tickMs) {
    if (now === 10) end = next / fps; // the rest of the burst
    while (now >= 10 && frameAt(next) - (live / fps) * 1000 <= now - 10) end = ++next / fps;
    s.now = now;
    s.buffered = [[0, end]];
    const a = c.update(s);
    if (a.seekTo !== undefined) {
      s.currentTime = a.seekTo;
      seeks.push(a.reason);
    }
    s.playbackRate = a.playbackRate;
    trace.push({ now, ahead: end - s.currentTime, reason: a.reason, rate: a.playbackRate });
    s.currentTime = Math.min(end, s.currentTime + (tickMs / 1000) * s.playbackRate);
  }
  const mean = (from: number, to: number) => {
    const xs = trace.filter((t) => t.now >= from && t.now < to).map((t) => t.ahead);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const lows = trace.filter((t) => t.ahead < 0.001).length;
  return { trace, seeks, mean, lows };
}

test('live edge: from a GOP backlog, the buffer ahead is at the target within the first second', () => {
  for (const backlog of [0.1, 0.3, 0.5, 0.97]) {
    const r = playStream({ target: 0.1, seconds: 12, backlog });
    const first = r.mean(200, 1000);
    assert.ok(Math.abs(first - 0.1) < 0.04, `backlog ${backlog}: mean ahead ${first.toFixed(3)} s in the first second`);
    const steady = r.mean(4000, 12000);
    assert.ok(Math.abs(steady - 0.1) < 0.025, `backlog ${backlog}: steady mean ahead ${steady.toFixed(3)} s`);
    assert.equal(r.lows, 0, `backlog ${backlog}: ran dry`);
    assert.ok(r.seeks.length <= 2, `backlog ${backlog}: seeks ${r.seeks}`);
  }
});

test('live edge: with arrival jitter the buffer converges to the target without running dry', () => {
  // Frames up to 40 ms late, in a repeating pattern.
  const jitter = (i: number) => [0, 25, 40, 5, 0, 30, 10, 0][i % 8]!;
  const r = playStream({ target: 0.1, seconds: 15, backlog: 0.6, jitter });
  const steady = r.mean(5000, 15000);
  assert.ok(Math.abs(steady - 0.1) < 0.03, `steady mean ahead ${steady.toFixed(3)} s`);
  assert.equal(r.lows, 0);
});

test('live edge: a buffer that grew (a hiccup) converges back, and one that shrank grows back', () => {
  const { step, s } = sim({ target: 0.1, startWindowMs: 0, smoothingMs: 300 });
  step(10, { buffered: [[0, 0.033]] });
  for (const start of [0.4, 0.05]) {
    let end = 10 + start;
    s.currentTime = 10;
    let a;
    for (let i = 0; i < 1500; i++) {
      // 10 ms steps: the source adds 10 ms of media, the playhead moves at the rate.
      end += 0.01;
      a = step(10, { buffered: [[0, end]] });
      s.currentTime += 0.01 * s.playbackRate;
    }
    const ahead = a!.ahead; // at the decision, right after the source's append
    assert.ok(Math.abs(ahead - 0.1) <= 0.021, `from ${start}: ahead ${ahead.toFixed(3)} after 15 s`);
    assert.equal(a!.seekTo, undefined);
  }
});

test('live edge: rate by buffer ahead: hold, catch up or slow down proportionally, minRate near empty', () => {
  const { step, s } = sim({ startWindowMs: 0, tolerance: 0.02, rampSeconds: 0.25 });
  step(100, { buffered: [[0, 0.2]] }); // start
  const cases: [number, number, string][] = [
    // ahead, expected rate, reason
    [0.15, 1, 'hold'],
    [0.17, 1, 'hold'],
    [0.13, 1, 'hold'],
    [0.15 + 0.125, 1.06, 'catchup'],
    [0.15 + 0.25, 1.12, 'catchup'],
    [1.2, 1.12, 'catchup'],
    [0.1, 0.99, 'slow'],
    [0.07, 0.98, 'slow'],
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

test('live edge: after restartWindow (a reconnect) a backlog above target + startSlack is jumped', () => {
  const { step, s, c } = sim({ startWindowMs: 4000 });
  step(100, { buffered: [[0, 0.2]] });
  s.currentTime = 20;
  step(10_000, { buffered: [[0, 20.2]] });
  let a = step(100, { buffered: [[0, 20.9]] });
  assert.equal(a.seekTo, undefined, 'outside the start window 0.9 s is caught up by rate');
  c.restartWindow(s.now);
  a = step(100, { buffered: [[0, 21]] });
  assert.equal(a.reason, 'live');
  assert.equal(a.seekTo, 21 - 0.15);
});

test('live edge: the default target is DEFAULT_TARGET; setTarget changes it (and the default lowWater)', () => {
  const c = new LiveEdgeController({ smoothingMs: 1, startWindowMs: 0 });
  assert.equal(c.target, DEFAULT_TARGET);
  c.setTarget(0.2);
  assert.equal(c.target, 0.2);
  const s: PlaybackSnapshot = { now: 0, currentTime: 10, buffered: [[0, 10.06]], paused: false, seeking: false, playbackRate: 1 };
  // 0.06 s ahead: above 0.4 × 0.1 but below 0.4 × 0.2.
  assert.equal(c.update(s).reason, 'low');
  assert.equal(c.update({ ...s, now: 100, buffered: [[0, 10.2]] }).reason, 'hold');
});
