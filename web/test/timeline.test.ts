import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTimestampOffset, latencySeconds, WallClockMap } from '../src/player/timeline.js';

test('WallClockMap: the newest point at or before t maps it; before the first, extrapolate', () => {
  const m = new WallClockMap();
  assert.equal(m.wallAt(1), undefined);
  m.add(10, 1_000_000);
  m.add(11, 1_001_050); // the wall clock ran 50 ms more than the media
  assert.equal(m.wallAt(10), 1_000_000);
  assert.equal(m.wallAt(10.5), 1_000_500);
  assert.equal(m.wallAt(11), 1_001_050);
  assert.equal(m.wallAt(11.25), 1_001_300);
  assert.equal(m.wallAt(9.5), 999_500);
});

test('WallClockMap: out-of-order and repeated points (a reconnect resends the GOP)', () => {
  const m = new WallClockMap();
  m.add(10, 1000);
  m.add(12, 3000);
  m.add(11, 2000);
  m.add(12, 3100);
  assert.equal(m.size, 3);
  assert.equal(m.wallAt(11.5), 2500);
  assert.equal(m.wallAt(12), 3100);
  m.prune(11.5);
  assert.equal(m.size, 2);
  assert.equal(m.wallAt(11.5), 2500);
});

test('WallClockMap: bounded', () => {
  const m = new WallClockMap(3);
  for (let i = 0; i < 10; i++) m.add(i, i * 1000);
  assert.equal(m.size, 3);
  assert.equal(m.wallAt(9), 9000);
});

test('latencySeconds: server now minus the ingest time of the frame on screen', () => {
  const m = new WallClockMap();
  m.add(100, 1_763_740_800_000);
  assert.equal(latencySeconds(m, 100.5, 1_763_740_800_000 + 800), 0.3);
  assert.equal(latencySeconds(m, 100.5, undefined), undefined);
  assert.equal(latencySeconds(new WallClockMap(), 100.5, 5), undefined);
});

test('chooseTimestampOffset: keep the offset when the timeline continues; shift when it restarted', () => {
  // Buffered: media 80..100 s, ingested at wall = media * 1000 + 1e12.
  const wall = (t: number) => (t >= 80 ? 1e12 + t * 1000 : undefined);
  const W = (t: number) => 1e12 + t * 1000;
  const cases: [string, Parameters<typeof chooseTimestampOffset>[0], number, [number, number][], number][] = [
    ['nothing buffered keeps the offset', { time: 0 }, 7, [], 7],
    ['resent GOP overlaps the buffer (wall clocks agree)', { time: 98, prft: { mediaTime: 98, wallMs: W(98) + 20 } }, 0, [[80, 100]], 0],
    ['continues at the end', { time: 99.9, prft: { mediaTime: 99.9, wallMs: W(99.9) } }, 0, [[80, 100]], 0],
    ['time passed while disconnected', { time: 160 }, 0, [[80, 100]], 0],
    ['server clock restarted far back', { time: 0, prft: { mediaTime: 0, wallMs: W(200) } }, 0, [[80, 100]], 100],
    ['restarted inside the buffer (wall clocks disagree)', { time: 90, prft: { mediaTime: 90, wallMs: W(100) + 5000 } }, 0, [[80, 100]], 10],
    ['no prft: a short overlap is a resend', { time: 95 }, 0, [[80, 100]], 0],
    ['no prft: a long way back is a restart', { time: 2 }, 0, [[80, 100]], 98],
  ];
  for (const [name, first, cur, buffered, want] of cases) {
    assert.equal(chooseTimestampOffset(first, cur, buffered, wall), want, name);
  }
});
