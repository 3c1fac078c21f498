import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSync } from '../src/player/clock-sync.js';
import { parseServerTime, syncServerClock, wallFromDateHeader } from '../src/player/server-clock.js';

test('parseServerTime', () => {
  assert.equal(parseServerTime({ serverTime: 1763740800123.4 }), 1763740800123.4);
  assert.equal(parseServerTime({ serverTime: 'x' }), undefined);
  assert.equal(parseServerTime(null), undefined);
});

test('wallFromDateHeader: the local clock unless the Date header shows a gross skew', () => {
  const local = Date.parse('2025-06-01T12:00:00.700Z');
  assert.equal(wallFromDateHeader('Sun, 01 Jun 2025 12:00:00 GMT', local), local);
  assert.equal(wallFromDateHeader(null, local), local);
  assert.equal(wallFromDateHeader('garbage', local), local);
  // The server is a minute ahead: believe it (midpoint of its second).
  assert.equal(wallFromDateHeader('Sun, 01 Jun 2025 12:01:00 GMT', local), Date.parse('2025-06-01T12:01:00.500Z'));
});

/** A fetch stand-in and clocks driven by hand. */
function fakes(respond: (url: string) => { status: number; body?: unknown; date?: string }) {
  let mono = 100;
  const calls: string[] = [];
  const f = (async (url: string) => {
    calls.push(url);
    mono += 10; // 10 ms round trip, 5 each way
    const r = respond(url);
    return {
      ok: r.status >= 200 && r.status < 300,
      status: r.status,
      headers: { get: (k: string) => (k.toLowerCase() === 'date' ? (r.date ?? null) : null) },
      json: async () => r.body,
    } as unknown as Response;
  }) as typeof fetch;
  return { f, calls, now: () => mono, wallNow: () => 1_700_000_000_000 + mono };
}

test('syncServerClock: round trips to /api/v1/time, smallest RTT wins', async () => {
  const { f, calls, now, wallNow } = fakes(() => ({ status: 200, body: { serverTime: 5_000_000 } }));
  const c = new ClockSync();
  await syncServerClock('http://h:1/base', c, { fetch: f, now, wallNow });
  assert.equal(calls.length, 3);
  assert.equal(calls[0], 'http://h:1/base/api/v1/time');
  assert.equal(c.rtt, 10);
  // Equal round trips: the first sample (sent at 100, answered at 110)
  // stands; the server read its clock at the midpoint.
  assert.equal(c.serverNow(105), 5_000_000);
});

test('syncServerClock: without the endpoint, the local wall clock', async () => {
  const { f, now, wallNow } = fakes(() => ({ status: 404, date: new Date(1_700_000_000_000).toUTCString() }));
  const c = new ClockSync();
  await syncServerClock('http://h', c, { fetch: f, now, wallNow });
  assert.equal(c.rtt, undefined);
  assert.equal(c.serverNow(now()), wallNow());
});

test('syncServerClock: a network failure leaves the local clock', async () => {
  const c = new ClockSync();
  await syncServerClock('http://h', c, {
    fetch: (async () => {
      throw new TypeError('failed');
    }) as typeof fetch,
    now: () => 50,
    wallNow: () => 1000,
  });
  assert.equal(c.serverNow(50), 1000);
});
