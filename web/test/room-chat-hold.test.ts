import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChatHold, type HoldContext } from '../src/room/chat-hold.js';
import type { ChatMessage, Role } from '../src/room/protocol.js';

const msg = (seq: number, mediaTime: number | undefined, viewer = 'v1', role: Role = 'viewer'): ChatMessage => ({
  id: `m${seq}`, seq, viewer, name: viewer, role, text: `at ${mediaTime}`, at: '2025-01-01T00:00:00Z', ...(mediaTime === undefined ? {} : { mediaTime }),
});
const ctx = (picture: number | null, now = 0, extra: Partial<HoldContext> = {}): HoldContext => ({ on: true, picture, now, mine: false, ...extra });
const ids = (ms: ChatMessage[]) => ms.map((m) => m.id);

test('a message ahead of the picture waits until the picture reaches it', () => {
  const hold = new ChatHold();
  assert.deepEqual(ids(hold.add(msg(1, 12), ctx(10))), []);
  assert.deepEqual(ids(hold.add(msg(2, 11), ctx(10))), []);
  assert.deepEqual(ids(hold.add(msg(3, 9.5), ctx(10))), ['m3']); // behind the picture: at once
  assert.deepEqual(ids(hold.due(10.9, 100)), []);
  assert.deepEqual(ids(hold.due(11, 200)), ['m2']);
  assert.deepEqual(ids(hold.due(12.5, 300)), ['m1']);
  assert.equal(hold.size, 0);
});

test('shown at once: setting off, own messages, staff, no media time, unknown picture', () => {
  const hold = new ChatHold();
  assert.deepEqual(ids(hold.add(msg(1, 50), ctx(10, 0, { on: false }))), ['m1']);
  assert.deepEqual(ids(hold.add(msg(2, 50), ctx(10, 0, { mine: true }))), ['m2']);
  assert.deepEqual(ids(hold.add(msg(3, 50, 'h', 'host'), ctx(10))), ['m3']);
  assert.deepEqual(ids(hold.add(msg(4, 50, 'm', 'moderator'), ctx(10))), ['m4']);
  assert.deepEqual(ids(hold.add(msg(5, undefined), ctx(10))), ['m5']);
  assert.deepEqual(ids(hold.add(msg(6, 50), ctx(null))), ['m6']);
  assert.equal(hold.size, 0);
});

test('the wait is bounded in time and the queue in length', () => {
  const hold = new ChatHold({ maxWaitMs: 30_000, maxHeld: 2 });
  hold.add(msg(1, 100), ctx(10, 0));
  hold.add(msg(2, 100), ctx(10, 1000));
  assert.deepEqual(ids(hold.add(msg(3, 100), ctx(10, 2000))), ['m1']); // overflow: the oldest goes
  assert.deepEqual(ids(hold.due(10, 30_999)), []);
  assert.deepEqual(ids(hold.due(10, 31_000)), ['m2']); // a picture that never gets there
  assert.deepEqual(ids(hold.due(null, 31_001)), ['m3']); // the picture is lost: everything
});

test('deletions and bans reach held messages; a resent message is not held twice', () => {
  const hold = new ChatHold();
  hold.add(msg(1, 20, 'a'), ctx(10));
  hold.add(msg(2, 20, 'b'), ctx(10));
  hold.add(msg(3, 20, 'b'), ctx(10));
  hold.add(msg(4, 20, 'c'), ctx(10));
  hold.add(msg(4, 20, 'c'), ctx(10));
  assert.equal(hold.size, 4);
  hold.remove((m) => m.id === 'm1');
  hold.remove((m) => m.viewer === 'b');
  assert.deepEqual(ids(hold.due(20, 0)), ['m4']);
});

test('turning the setting off shows what is held; a snapshot forgets it', () => {
  const hold = new ChatHold();
  hold.add(msg(1, 20), ctx(10));
  hold.add(msg(2, 30), ctx(10));
  assert.deepEqual(ids(hold.drain()), ['m1', 'm2']);
  hold.add(msg(3, 30), ctx(10));
  hold.clear();
  assert.deepEqual(ids(hold.due(100, 0)), []);
});
