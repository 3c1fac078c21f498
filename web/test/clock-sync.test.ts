import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSync } from '../src/player/clock-sync.js';

test('ClockSync: nothing known at first', () => {
  const c = new ClockSync();
  assert.equal(c.offset, undefined);
  assert.equal(c.serverNow(5), undefined);
  assert.equal(c.rtt, undefined);
});

test('ClockSync: offset = serverTime - (send + rtt/2)', () => {
  const c = new ClockSync();
  // The server clock is 1e12 ms ahead of the client's monotonic clock; the
  // request takes 10 ms, the answer 10 ms.
  assert.ok(c.addSample(100, 1e12 + 110, 120));
  assert.equal(c.offset, 1e12);
  assert.equal(c.rtt, 20);
  assert.equal(c.serverNow(1000), 1e12 + 1000);
});

test('ClockSync: the smallest round trip wins (asymmetric delays of slow samples are ignored)', () => {
  const c = new ClockSync();
  const off = 5_000_000;
  c.addSample(0, off + 80, 100); // 80 ms out, 20 back: estimate off + 30
  c.addSample(200, off + 203, 206); // 3 / 3: exact
  c.addSample(300, off + 310, 400); // 10 / 90: estimate off - 40
  assert.equal(c.offset, off);
  assert.equal(c.rtt, 6);
});

test('ClockSync: only the last `window` samples compete', () => {
  const c = new ClockSync({ window: 2 });
  c.addSample(0, 1000 + 1, 2); // rtt 2, offset 1000
  c.addSample(10, 2000 + 20, 30); // rtt 20, offset 2000
  c.addSample(40, 2000 + 50, 60); // rtt 20, offset 2000
  assert.equal(c.offset, 2000);
});

test('ClockSync: rejects negative round trips; coarse hello until a sample', () => {
  const c = new ClockSync();
  assert.equal(c.addSample(10, 1, 5), false);
  c.addCoarse(10_000, 100);
  assert.equal(c.offset, 9_900);
  assert.equal(c.rtt, undefined);
  c.addSample(200, 10_150, 210);
  assert.equal(c.offset, 9_945);
});

test('ClockSync: samples older than maxAge stop competing', () => {
  const c = new ClockSync({ maxAgeMs: 1000 });
  c.addSample(0, 101, 2); // rtt 2, offset 100
  c.addSample(5000, 5200 + 10, 5020); // rtt 20, offset 200
  assert.equal(c.offset, 200);
});
