import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitrateMeter } from '../src/player/bitrate.js';

test('BitrateMeter: steady 1 Mbit/s over a 2 s window', () => {
  const m = new BitrateMeter(2000);
  for (let t = 0; t <= 5000; t += 100) m.add(t, 12_500); // 125 kB/s
  assert.equal(Math.round(m.bitsPerSecond(5000)), 1_000_000);
});

test('BitrateMeter: early readings divide by the observed time; silence decays to 0', () => {
  const m = new BitrateMeter(2000);
  assert.equal(m.bitsPerSecond(0), 0);
  m.add(1000, 1000);
  assert.equal(m.bitsPerSecond(1000), 32_000); // 8000 bits over the 250 ms floor
  m.add(1500, 1000);
  assert.equal(m.bitsPerSecond(1500), 32_000); // 16000 bits over 500 ms
  assert.equal(m.bitsPerSecond(10_000), 0);
});
