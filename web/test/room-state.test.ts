import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatMessage, PollView, QuestionView, Snapshot } from '../src/room/protocol.js';
import { applyEvent, applySnapshot, emptyRoom, MAX_CHAT, sortedQuestions, type RoomState } from '../src/room/state.js';

const pinnedId = (st: RoomState) => st.pinned?.id;

const msg = (seq: number, viewer = 'v1', text = `hello ${seq}`): ChatMessage => ({
  id: `m${seq}`, seq, viewer, name: viewer, role: 'viewer', text, at: '2025-01-01T00:00:00Z',
});
const poll = (id: string, status: PollView['status'], extra: Partial<PollView> = {}): PollView => ({
  id, question: 'Q?', options: ['a', 'b'], multiple: false, changeable: true, results: 'live', status, createdAt: '2025-01-01T00:00:00Z', ...extra,
});
const question = (id: string, seq: number, upvotes: number, extra: Partial<QuestionView> = {}): QuestionView => ({
  id, seq, viewer: 'v', name: 'n', text: id, at: '2025-01-01T00:00:00Z', status: 'visible', upvotes, answered: false, ...extra,
});

function snapshot(): Snapshot {
  return { seq: 10, viewers: 4, chat: [msg(2), msg(1)], pinned: msg(1), slowMode: 0, poll: poll('p5', 'open', { tally: [0, 0], voters: 0 }), questions: [question('q3', 3, 1)] };
}

test('snapshot replaces the state', () => {
  const st = emptyRoom();
  const parts = applySnapshot(st, snapshot());
  assert.ok(parts.has('chat') && parts.has('poll'));
  assert.deepEqual(st.chat.map((m) => m.id), ['m1', 'm2']);
  assert.equal(st.pinned?.id, 'm1');
  assert.equal(st.poll?.id, 'p5');
  assert.equal(st.viewers, 4);
  assert.equal(st.questions.size, 1);
});

test('chat: upsert by id, order by seq, deletions, pins, bans, history bound', () => {
  const st = emptyRoom();
  applySnapshot(st, snapshot());
  applyEvent(st, { seq: 12, type: 'chat.message', data: msg(12, 'v2') });
  applyEvent(st, { seq: 11, type: 'chat.message', data: msg(11) });
  applyEvent(st, { seq: 12, type: 'chat.message', data: msg(12, 'v2') }); // resumed again
  assert.deepEqual(st.chat.map((m) => m.id), ['m1', 'm2', 'm11', 'm12']);

  let parts = applyEvent(st, { seq: 13, type: 'chat.deleted', data: { id: 'm1' } });
  assert.ok(parts.has('chat') && parts.has('pinned'));
  assert.equal(pinnedId(st), undefined);
  assert.equal(applyEvent(st, { type: 'chat.deleted', data: { id: 'nope' } }).size, 0);

  applyEvent(st, { seq: 14, type: 'chat.pinned', data: msg(12, 'v2') });
  assert.equal(pinnedId(st), 'm12');
  parts = applyEvent(st, { seq: 15, type: 'mod.banned', data: { viewer: 'v2', until: '2030-01-01T00:00:00Z' } });
  assert.ok(parts.has('pinned') && parts.has('chat') && parts.has('bans'));
  assert.deepEqual(st.chat.map((m) => m.id), ['m2', 'm11']);
  assert.equal(st.bans.get('v2'), '2030-01-01T00:00:00Z');
  applyEvent(st, { type: 'mod.unbanned', data: { viewer: 'v2' } });
  assert.equal(st.bans.size, 0);

  applyEvent(st, { type: 'chat.slow', data: { seconds: 10 } });
  assert.equal(st.slowMode, 10);
  applyEvent(st, { type: 'chat.unpinned' });
  assert.equal(st.pinned, null);

  for (let i = 100; i < 100 + MAX_CHAT + 5; i++) applyEvent(st, { seq: i, type: 'chat.message', data: msg(i) });
  assert.equal(st.chat.length, MAX_CHAT);
  assert.equal(st.chat.at(-1)!.seq, 100 + MAX_CHAT + 4);
});

test('polls: results, close, no going back, the current poll', () => {
  const st = emptyRoom();
  applySnapshot(st, snapshot());
  applyEvent(st, { seq: 11, type: 'poll.results', data: { id: 'p5', tally: [3, 1], voters: 4 } });
  assert.deepEqual(st.poll?.tally, [3, 1]);
  assert.equal(st.poll?.voters, 4);
  applyEvent(st, { seq: 12, type: 'poll.closed', data: poll('p5', 'closed', { tally: [4, 1], voters: 5 }) });
  assert.equal(st.poll?.status, 'closed');
  // Stale: a late opened view or results of a closed poll change nothing.
  assert.equal(applyEvent(st, { type: 'poll.opened', data: poll('p5', 'open') }).size, 0);
  assert.equal(applyEvent(st, { type: 'poll.results', data: { id: 'p5', tally: [9, 9], voters: 18 } }).size, 0);
  assert.deepEqual(st.poll?.tally, [4, 1]);
  // Results for an unknown poll are ignored.
  assert.equal(applyEvent(st, { type: 'poll.results', data: { id: 'p9', tally: [1, 1] } }).size, 0);
  // A draft (staff) is listed but is not the current poll; opening it makes it so.
  applyEvent(st, { type: 'poll.created', data: poll('p20', 'draft') });
  assert.equal(st.poll?.id, 'p5');
  assert.equal(st.polls.size, 2);
  applyEvent(st, { type: 'poll.opened', data: poll('p20', 'open') });
  assert.equal(st.poll?.id, 'p20');
  // Closing an older poll does not replace the open one.
  applyEvent(st, { type: 'poll.closed', data: poll('p1', 'closed') });
  assert.equal(st.poll?.id, 'p20');
});

test('questions: upsert, hidden and pending leave a viewer list, staff keep them', () => {
  const st = emptyRoom();
  applySnapshot(st, snapshot());
  applyEvent(st, { type: 'qa.question', data: question('q4', 4, 0) });
  applyEvent(st, { type: 'qa.question', data: question('q3', 3, 2) });
  assert.equal(st.questions.get('q3')?.upvotes, 2);
  applyEvent(st, { type: 'qa.question', data: question('q5', 5, 0, { status: 'pending' }) });
  assert.equal(st.questions.has('q5'), false);
  applyEvent(st, { type: 'qa.hidden', data: { id: 'q4' } });
  assert.equal(st.questions.has('q4'), false);

  const staff = emptyRoom(true);
  applyEvent(staff, { type: 'qa.question', data: question('q5', 5, 0, { status: 'pending' }) });
  applyEvent(staff, { type: 'qa.question', data: question('q6', 6, 0) });
  applyEvent(staff, { type: 'qa.hidden', data: { id: 'q6' } });
  assert.equal(staff.questions.get('q5')?.status, 'pending');
  assert.equal(staff.questions.get('q6')?.status, 'hidden');
});

test('sortedQuestions: unanswered first, then votes, then oldest', () => {
  const qs = [question('a', 1, 1), question('b', 2, 5), question('c', 3, 5), question('d', 4, 9, { answered: true }), question('e', 5, 0, { status: 'pending' })];
  assert.deepEqual(sortedQuestions(qs).map((q) => q.id), ['b', 'c', 'a', 'd']);
  assert.deepEqual(sortedQuestions(qs, 'pending').map((q) => q.id), ['e']);
});

test('presence', () => {
  const st = emptyRoom();
  assert.ok(applyEvent(st, { type: 'presence', data: { viewers: 42 } }).has('viewers'));
  assert.equal(st.viewers, 42);
  assert.equal(applyEvent(st, { type: 'who.knows', data: {} }).size, 0);
});

test('spoiler-free chat: from the snapshot and the chat.sync event', () => {
  const st = emptyRoom();
  applySnapshot(st, { ...snapshot(), chatSync: true });
  assert.equal(st.chatSync, true);
  assert.ok(applyEvent(st, { seq: 11, type: 'chat.sync', data: { enabled: false } }).has('sync'));
  assert.equal(st.chatSync, false);
});
