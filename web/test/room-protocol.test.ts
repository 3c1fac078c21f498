import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, parseDown } from '../src/room/protocol.js';

test('parseDown: the viewer channel messages', () => {
  const session = parseDown('{"type":"session","token":"t","viewer":"v1","name":"viewer-v1","role":"viewer","expiresAt":"2030-01-01T00:00:00Z"}');
  assert.deepEqual(session, { type: 'session', token: 't', viewer: 'v1', name: 'viewer-v1', role: 'viewer', expiresAt: '2030-01-01T00:00:00Z' });

  const snap = parseDown('{"type":"snapshot","seq":7,"data":{"seq":7,"viewers":3,"chat":[],"slowMode":5,"questions":[],"poll":{"id":"p1"}}}');
  assert.equal(snap?.type, 'snapshot');
  if (snap?.type === 'snapshot') {
    assert.equal(snap.seq, 7);
    assert.equal(snap.data.viewers, 3);
    assert.equal(snap.data.slowMode, 5);
    assert.equal(snap.data.pinned, null);
    assert.equal(snap.data.poll?.id, 'p1');
  }

  const ev = parseDown('{"type":"events","resumed":true,"events":[{"seq":3,"type":"chat.message","data":{"id":"m3"}},{"type":"presence","data":{"viewers":2}},{"bad":1},7]}');
  assert.deepEqual(ev, {
    type: 'events',
    resumed: true,
    events: [
      { seq: 3, type: 'chat.message', data: { id: 'm3' } },
      { type: 'presence', data: { viewers: 2 } },
    ],
  });

  assert.deepEqual(parseDown('{"type":"result","key":"k","seq":9,"id":"m9"}'), { type: 'result', key: 'k', seq: 9, id: 'm9' });
  assert.deepEqual(parseDown('{"type":"result","key":"k","error":{"code":"slow_mode","message":"slow mode: one message every 10 s"}}'), {
    type: 'result',
    key: 'k',
    error: { code: 'slow_mode', message: 'slow mode: one message every 10 s' },
  });
  assert.deepEqual(parseDown('{"type":"error","error":{"code":"bad_request","message":"x"}}'), { type: 'error', error: { code: 'bad_request', message: 'x' } });
});

test('parseDown: ignores what it cannot read', () => {
  for (const s of ['', 'nope', '[]', 'null', '{"type":"unknown"}', '{"type":"snapshot","seq":-1,"data":{}}', '{"type":"events"}', '{"type":"session"}', '{"type":"error"}']) {
    assert.equal(parseDown(s), null, s);
  }
});

test('describeError: clear words for the stable codes', () => {
  assert.match(describeError({ code: 'rate_limited', message: 'too many commands; slow down' }), /too fast/);
  assert.match(describeError({ code: 'slow_mode', message: 'slow mode: one message every 10 s' }), /Slow mode.*10 s/);
  assert.equal(describeError({ code: 'banned', message: 'you are banned from this chat' }), 'You are banned from this chat.');
  assert.match(describeError({ code: 'banned', message: 'you are timed out until 2030-01-01T10:00:00Z' }), /^You are timed out until /);
  assert.equal(describeError({ code: 'something_new', message: 'Server says so' }), 'Server says so');
});
