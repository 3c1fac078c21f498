import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServerMessage, pingMessage, ProtocolError } from '../src/player/messages.js';

test('parseServerMessage: the messages of docs/ws-protocol.md', () => {
  const cases: [string, unknown][] = [
    [
      '{"type":"hello","version":1,"stream":"demo","serverTime":1763740800123.4}',
      { type: 'hello', version: 1, stream: 'demo', serverTime: 1763740800123.4 },
    ],
    [
      '{"type":"init","mime":"video/mp4; codecs=\\"avc1.64001f,mp4a.40.2\\"","tracks":[{"id":1,"kind":"video","codec":"avc1.64001f","timescale":90000,"width":1280,"height":720},{"id":2,"kind":"audio","codec":"mp4a.40.2","timescale":48000,"sampleRate":48000,"channels":2}]}',
      {
        type: 'init',
        mime: 'video/mp4; codecs="avc1.64001f,mp4a.40.2"',
        tracks: [
          { id: 1, kind: 'video', codec: 'avc1.64001f', timescale: 90000, width: 1280, height: 720 },
          { id: 2, kind: 'audio', codec: 'mp4a.40.2', timescale: 48000, sampleRate: 48000, channels: 2 },
        ],
      },
    ],
    ['{"type":"status","state":"waiting"}', { type: 'status', state: 'waiting' }],
    [
      '{"type":"error","code":"not_found","message":"stream \\"x\\" is not live"}',
      { type: 'error', code: 'not_found', message: 'stream "x" is not live' },
    ],
    ['{"type":"pong","clientTime":12345.6,"serverTime":1763740800123.4}', { type: 'pong', clientTime: 12345.6, serverTime: 1763740800123.4 }],
    [
      '{"type":"cue","cue":{"id":"c1","mediaTime":12.5,"type":"poll.open","payload":{"q":"?"}}}',
      { type: 'cue', cue: { id: 'c1', mediaTime: 12.5, type: 'poll.open', payload: { q: '?' } } },
    ],
    ['{"type":"cue","id":7,"mediaTime":3,"cueType":"x"}', { type: 'cue', cue: { id: '7', mediaTime: 3, type: 'x', payload: null } }],
    ['{"type":"future","x":1}', { type: 'unknown', raw: { type: 'future', x: 1 } }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseServerMessage(text), want, text);
});

test('parseServerMessage: malformed messages raise ProtocolError', () => {
  for (const text of [
    'nope',
    '[]',
    '{"type":"hello","version":"1","stream":"d","serverTime":1}',
    '{"type":"init","mime":"video/mp4","tracks":{}}',
    '{"type":"init","mime":"video/mp4","tracks":[{"id":1}]}',
    '{"type":"status","state":"paused"}',
    '{"type":"pong","clientTime":1}',
    '{"type":"cue","cue":{"mediaTime":1}}',
  ]) {
    assert.throws(() => parseServerMessage(text), ProtocolError, text);
  }
});

test('pingMessage', () => {
  assert.deepEqual(JSON.parse(pingMessage(12345.6)), { type: 'ping', clientTime: 12345.6 });
});
