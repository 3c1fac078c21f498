import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelKey, cueEvent, CueSync, holdMs } from '../src/room/cue-sync.js';
import type { PollView, RoomEvent } from '../src/room/protocol.js';
import { applySnapshot, emptyRoom } from '../src/room/state.js';
import { FakeTimers } from './fake-timers.js';

const poll = (id: string, status: PollView['status'], extra: Partial<PollView> = {}): PollView => ({
  id, question: 'Q?', options: ['a', 'b'], multiple: false, changeable: true, results: 'live', status, createdAt: '2025-01-01T00:00:00Z', ...extra,
});

function setup(hold = 2000) {
  const t = new FakeTimers();
  const applied: [string, string][] = [];
  const sync = new CueSync({
    apply: (ev, via) => applied.push([ev.type, via]),
    hold: () => hold,
    ttlMs: 30_000,
    now: () => t.now,
    setTimeout: t.setTimeout,
    clearTimeout: t.clearTimeout,
  });
  return { t, applied, sync };
}

const opened: RoomEvent = { seq: 5, type: 'poll.opened', data: poll('p5', 'open') };

test('a channel event waits for its cue and shows with it, once', () => {
  const { t, applied, sync } = setup();
  sync.channel(opened, 'poll.opened:p5');
  t.advance(1000);
  assert.deepEqual(applied, []);
  assert.equal(sync.cue({ type: 'poll.opened', payload: poll('p5', 'open') }), true);
  assert.deepEqual(applied, [['poll.opened', 'cue']]);
  t.advance(5000);
  assert.equal(applied.length, 1);
  assert.equal(sync.pending, 0);
});

test('without its cue, a channel event shows after the hold; the late cue is dropped', () => {
  const { t, applied, sync } = setup();
  sync.channel(opened, 'poll.opened:p5');
  t.advance(2000);
  assert.deepEqual(applied, [['poll.opened', 'channel']]);
  sync.cue({ type: 'poll.opened', payload: poll('p5', 'open') });
  assert.equal(applied.length, 1);
});

test('a cue before the channel event: shown with the cue, the channel copy dropped', () => {
  const { t, applied, sync } = setup();
  sync.cue({ type: 'chat.pinned', payload: { id: 'm3', text: 'x' } });
  sync.channel({ seq: 9, type: 'chat.pinned', data: { id: 'm3' } }, 'chat.pinned:m3');
  t.advance(10_000);
  assert.deepEqual(applied, [['chat.pinned', 'cue']]);
  // Remembered keys match once: a second pin of the same message waits again.
  sync.channel({ seq: 20, type: 'chat.pinned', data: { id: 'm3' } }, 'chat.pinned:m3');
  t.advance(2000);
  assert.deepEqual(applied.at(-1), ['chat.pinned', 'channel']);
});

test('remembered keys expire', () => {
  const { t, applied, sync } = setup();
  sync.cue({ type: 'chat.unpinned', payload: {} });
  t.advance(31_000);
  sync.channel({ type: 'chat.unpinned' }, 'chat.unpinned');
  t.advance(2000);
  assert.equal(applied.length, 2);
});

test('no hold (no video playing): channel events apply at once; events without a key too', () => {
  const { applied, sync } = setup(0);
  sync.channel(opened, 'poll.opened:p5');
  sync.channel({ type: 'chat.message', data: {} }, null);
  assert.deepEqual(applied, [['poll.opened', 'channel'], ['chat.message', 'channel']]);
  sync.cue({ type: 'poll.opened', payload: poll('p5', 'open') });
  assert.equal(applied.length, 2);
});

test('flush and clear', () => {
  const { t, applied, sync } = setup();
  sync.channel(opened, 'poll.opened:p5');
  sync.flush();
  assert.deepEqual(applied, [['poll.opened', 'channel']]);
  sync.channel({ type: 'poll.closed', data: poll('p5', 'closed') }, 'poll.closed:p5');
  sync.clear();
  t.advance(10_000);
  assert.equal(applied.length, 1);
});

test('cueEvent: the rooms cues as channel events; others are not room changes', () => {
  assert.deepEqual(cueEvent({ type: 'qa.answered', payload: { id: 'q1', answered: false } }), {
    key: 'qa.answered:q1',
    event: { type: 'qa.question', data: { id: 'q1', answered: true } },
  });
  assert.equal(cueEvent({ type: 'poll.results', payload: { id: 'p1', tally: [1, 2], voters: 3 } })?.key, 'poll.results:p1:1,2');
  assert.equal(cueEvent({ type: 'custom', payload: {} }), null);
  assert.equal(cueEvent({ type: 'poll.opened', payload: null }), null);
  const { sync, applied } = setup();
  assert.equal(sync.cue({ type: 'tick', payload: 1 }), false);
  assert.equal(applied.length, 0);
});

test('channelKey: only the changes the rooms also post as cues', () => {
  const st = emptyRoom();
  applySnapshot(st, {
    seq: 1, viewers: 0, chat: [], slowMode: 0, poll: poll('p1', 'open', { tally: [0, 0] }),
    questions: [{ id: 'q1', seq: 1, viewer: 'v', name: 'n', text: 't', at: '', status: 'visible', upvotes: 0, answered: false }],
  });
  assert.equal(channelKey({ type: 'poll.results', data: { id: 'p1', tally: [1, 0] } }, st), 'poll.results:p1:1,0');
  assert.equal(channelKey({ type: 'poll.results', data: { id: 'p9', tally: [1, 0] } }, st), 'poll.results:p9:1,0'); // being opened
  st.polls.set('p2', poll('p2', 'open', { results: 'close' }));
  assert.equal(channelKey({ type: 'poll.results', data: { id: 'p2', tally: [1, 0] } }, st), null);
  assert.equal(channelKey({ type: 'poll.closed', data: { id: 'p1' } }, st), 'poll.closed:p1');
  assert.equal(channelKey({ type: 'chat.unpinned' }, st), null); // nothing pinned
  assert.equal(channelKey({ type: 'qa.question', data: { id: 'q1', answered: true } }, st), 'qa.answered:q1');
  assert.equal(channelKey({ type: 'qa.question', data: { id: 'q1', answered: false, upvotes: 3 } }, st), null);
  assert.equal(channelKey({ type: 'chat.message', data: { id: 'm1' } }, st), null);
});

test('holdMs: latency plus a margin, bounded; none without video', () => {
  assert.equal(holdMs(false, 1), 0);
  assert.equal(holdMs(true, 0.4), 1150);
  assert.equal(holdMs(true, null), 1750);
  assert.equal(holdMs(true, 0.01), 760);
  assert.equal(holdMs(true, 0), 1750);
  assert.equal(holdMs(true, 30), 6000);
});
