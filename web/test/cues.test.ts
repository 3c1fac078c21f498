import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CueScheduler } from '../src/player/cues.js';

const cue = (id: string, mediaTime: number) => ({ id, mediaTime, type: 't', payload: null });

test('CueScheduler: fires in media-time order when the frame is shown', () => {
  const s = new CueScheduler();
  s.add(cue('b', 12));
  s.add(cue('a', 10));
  s.add(cue('c', 15));
  assert.deepEqual(s.due(9.99), []);
  assert.deepEqual(s.due(12).map((c) => c.id), ['a', 'b']);
  assert.deepEqual(s.due(12.5), []);
  assert.deepEqual(s.due(100).map((c) => c.id), ['c']);
  assert.equal(s.size, 0);
});

test('CueScheduler: duplicates fire once; late cues fire at once', () => {
  const s = new CueScheduler(2);
  assert.equal(s.add(cue('a', 1)), true);
  assert.equal(s.add(cue('a', 1)), false);
  assert.deepEqual(s.due(5).map((c) => c.id), ['a']);
  s.add(cue('late', 2));
  assert.deepEqual(s.due(5).map((c) => c.id), ['late']);
  // The seen set is bounded: old ids are forgotten.
  s.add(cue('x', 1));
  s.add(cue('y', 1));
  assert.equal(s.add(cue('a', 1)), true);
});
