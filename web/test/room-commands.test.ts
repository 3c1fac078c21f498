import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ask, chat, checkText, cleanMediaTime, command, newKey, react, upvote, vote } from '../src/room/commands.js';

test('cleanMediaTime: non-negative, finite, microseconds', () => {
  assert.equal(cleanMediaTime(12.3456789), 12.345679);
  assert.equal(cleanMediaTime(-1), 0);
  assert.equal(cleanMediaTime(NaN), 0);
  assert.equal(cleanMediaTime(Infinity), 0);
  assert.equal(cleanMediaTime(null), 0);
  assert.equal(cleanMediaTime(undefined), 0);
});

test('command: type, key, mediaTime and only the fields set', () => {
  assert.deepEqual(command('chat.send', { text: 'hi', id: undefined, choices: [] }, 1.5, 'k'), { type: 'chat.send', key: 'k', mediaTime: 1.5, text: 'hi' });
  const c = chat('  hello  ', 2);
  assert.equal(c.type, 'chat.send');
  assert.equal(c.text, 'hello');
  assert.equal(c.mediaTime, 2);
  assert.match(c.key!, /^m-/);
  assert.deepEqual({ ...vote('p1', [2, 0, 2], 3), key: '' }, { type: 'poll.vote', key: '', mediaTime: 3, id: 'p1', choices: [0, 2] });
  assert.equal(ask('why?', -5).mediaTime, 0);
  assert.equal('mediaTime' in chat('no picture yet', null), false);
  assert.equal(upvote('q1', 1).id, 'q1');
  assert.equal(react('🔥', 25, 1).count, 10);
  assert.equal(react('🔥', 0, 1).count, 1);
});

test('newKey: unique, printable, at most 64 characters', () => {
  const keys = new Set(Array.from({ length: 1000 }, () => newKey('x')));
  assert.equal(keys.size, 1000);
  for (const k of keys) assert.match(k, /^[\x21-\x7e]{1,64}$/);
});

test('checkText: empty, too long (counted in characters)', () => {
  assert.equal(checkText('  ', 10), 'Write something first.');
  assert.equal(checkText('ok', 10), null);
  assert.equal(checkText('😀'.repeat(10), 10), null);
  assert.match(checkText('x'.repeat(11), 10)!, /11 characters; at most 10/);
});
