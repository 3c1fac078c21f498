import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, liveURL, ViewerChannel, type SocketLike } from '../src/room/channel.js';
import { FakeTimers } from './fake-timers.js';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {}
  send(s: string) {
    this.sent.push(s);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  msg(o: unknown) {
    this.onmessage?.({ data: JSON.stringify(o) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
}

function setup(token?: string) {
  const timers = new FakeTimers();
  const sockets: FakeSocket[] = [];
  let tok = token;
  const ch = new ViewerChannel({
    stream: 'demo',
    baseURL: 'https://example.com',
    token: () => tok,
    name: () => 'Ann',
    socket: (u) => {
      const s = new FakeSocket(u);
      sockets.push(s);
      return s;
    },
    backoff: { random: () => 0, initialMs: 500, jitter: 0 },
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
  });
  const seen: string[] = [];
  ch.on('status', (s) => seen.push(s));
  ch.on('session', (s) => {
    tok = s.token;
  });
  return { ch, timers, sockets, seen, last: () => sockets.at(-1)! };
}

test('liveURL: ws(s), token or name, since', () => {
  assert.equal(liveURL('https://h:8443', 'a b', { since: 0, name: 'Ann' }), 'wss://h:8443/api/v1/streams/a%20b/live?name=Ann');
  assert.equal(liveURL('http://h', 'demo', { token: 't.k', since: 42, name: 'x' }), 'ws://h/api/v1/streams/demo/live?token=t.k&since=42');
});

test('resume: reconnects with backoff from the highest sequence, with the issued token', () => {
  const { ch, timers, sockets, seen, last } = setup();
  const snaps: number[] = [];
  const batches: boolean[] = [];
  ch.on('snapshot', (s) => snaps.push(s.seq));
  ch.on('events', (e) => batches.push(e.resumed));
  ch.connect();
  assert.equal(last().url, 'wss://example.com/api/v1/streams/demo/live?name=Ann');
  last().open();
  last().msg({ type: 'session', token: 'T1', viewer: 'v1', name: 'Ann', role: 'viewer', expiresAt: '2030-01-01T00:00:00Z' });
  last().msg({ type: 'snapshot', seq: 10, data: { seq: 10, viewers: 1, chat: [], slowMode: 0, questions: [] } });
  last().msg({ type: 'events', events: [{ seq: 12, type: 'chat.message', data: {} }, { type: 'presence', data: { viewers: 2 } }, { seq: 11, type: 'x' }] });
  assert.equal(ch.seq, 12);

  last().drop();
  assert.equal(ch.status, 'reconnecting');
  assert.equal(sockets.length, 1);
  timers.advance(499);
  assert.equal(sockets.length, 1);
  timers.advance(1);
  assert.equal(sockets.length, 2);
  assert.equal(last().url, 'wss://example.com/api/v1/streams/demo/live?token=T1&since=12');

  // The next attempt fails before opening: the delay doubles.
  last().drop();
  timers.advance(999);
  assert.equal(sockets.length, 2);
  timers.advance(1);
  assert.equal(sockets.length, 3);
  last().open();
  last().msg({ type: 'events', resumed: true, events: [{ seq: 13, type: 'chat.message', data: {} }] });
  assert.equal(ch.seq, 13);
  assert.deepEqual(batches, [false, true]);
  // A snapshot (the server no longer had the events, or its log started over) resets the sequence.
  last().msg({ type: 'snapshot', seq: 3, data: { seq: 3, viewers: 1, chat: [], slowMode: 0, questions: [] } });
  assert.equal(ch.seq, 3);
  assert.deepEqual(snaps, [10, 3]);
  assert.deepEqual(seen, ['connecting', 'open', 'reconnecting', 'open']);

  ch.close();
  assert.equal(ch.status, 'closed');
  assert.ok(last().closed);
  timers.advance(60_000);
  assert.equal(sockets.length, 3);
});

test('a healthy connection resets the backoff', () => {
  const { ch, timers, sockets, last } = setup('T');
  ch.connect();
  last().drop();
  timers.advance(500);
  last().drop();
  timers.advance(1000);
  last().open();
  timers.advance(5000); // healthy
  last().drop();
  timers.advance(500);
  assert.equal(sockets.length, 4);
});

test('commands: sent when open, answered by key, resent with the same key after a drop', async () => {
  const { ch, timers, last } = setup('T');
  ch.connect();
  const p1 = ch.send({ type: 'chat.send', key: 'k1', mediaTime: 1.5, text: 'hi' });
  assert.equal(last().sent.length, 0); // not open yet
  last().open();
  assert.deepEqual(last().sent.map((s) => JSON.parse(s).key), ['k1']);
  const p2 = ch.send({ type: 'qa.upvote', key: 'k2', mediaTime: 2, id: 'q1' });
  assert.equal(last().sent.length, 2);
  last().msg({ type: 'result', key: 'k1', seq: 5, id: 'm5' });
  assert.deepEqual(await p1, { seq: 5, id: 'm5' });

  // k2 is unanswered when the connection drops: it goes again on the next one.
  last().drop();
  timers.advance(500);
  last().open();
  assert.deepEqual(last().sent.map((s) => JSON.parse(s).key), ['k2']);
  last().msg({ type: 'result', key: 'k2', error: { code: 'already_voted', message: 'you upvoted this question already' } });
  await assert.rejects(p2, (e: unknown) => e instanceof CommandError && e.code === 'already_voted');
  assert.equal(ch.inFlight, 0);
});

test('commands: an unreadable command fails the oldest one sent; timeouts; close', async () => {
  const { ch, timers, last } = setup('T');
  ch.connect();
  last().open();
  const a = ch.send({ type: 'chat.send', key: 'a', mediaTime: 0, text: 'x' });
  const b = ch.send({ type: 'chat.send', key: 'b', mediaTime: 0, text: 'y' });
  last().msg({ type: 'error', error: { code: 'bad_request', message: 'mediaTime is required' } });
  await assert.rejects(a, (e: unknown) => (e as CommandError).code === 'bad_request');
  timers.advance(10_000);
  await assert.rejects(b, (e: unknown) => (e as CommandError).code === 'timeout');
  const c = ch.send({ type: 'chat.send', key: 'c', mediaTime: 0, text: 'z' });
  ch.close();
  await assert.rejects(c, (e: unknown) => (e as CommandError).code === 'closed');
  await assert.rejects(ch.send({ type: 'chat.send', key: 'd', mediaTime: 0, text: 'z' }), /closed/);
  assert.throws(() => ch.send({ type: 'chat.send', mediaTime: 0, text: 'z' }), TypeError);
});

test('a refused token is checked and reported after two failed upgrades', async () => {
  const timers = new FakeTimers();
  const checked: string[] = [];
  let bad = 0;
  const sockets: FakeSocket[] = [];
  const ch = new ViewerChannel({
    stream: 'demo',
    baseURL: 'http://h',
    token: () => 'OLD',
    checkToken: async (t) => (checked.push(t), false),
    socket: (u) => {
      const s = new FakeSocket(u);
      sockets.push(s);
      return s;
    },
    backoff: { random: () => 0, jitter: 0 },
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
  });
  ch.on('badtoken', () => bad++);
  ch.connect();
  sockets.at(-1)!.drop();
  assert.deepEqual(checked, []);
  timers.advance(500);
  sockets.at(-1)!.drop();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(checked, ['OLD']);
  assert.equal(bad, 1);
});
