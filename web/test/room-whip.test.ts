import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIceServers, parseWhipAnswer, preferCodecs, WhipError, whipURL } from '../src/room/whip.js';

const headers = (h: Record<string, string>) => ({ get: (k: string) => h[k.toLowerCase()] ?? null });
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n';

test('parseWhipAnswer: 201 with the answer and the resource', () => {
  const a = parseWhipAnswer(201, headers({ 'content-type': 'application/sdp', location: '/whip/demo/sessions/abc', etag: '"1"' }), SDP, 'http://h:8080/whip/demo');
  assert.deepEqual(a, { sdp: SDP, location: 'http://h:8080/whip/demo/sessions/abc', etag: '"1"', iceServers: [] });
  const b = parseWhipAnswer(201, headers({ location: 'https://other/r/1' }), SDP, 'http://h/whip/demo');
  assert.equal(b.location, 'https://other/r/1');
});

test('parseWhipAnswer: errors say why', () => {
  const cases: [number, Record<string, string>, string, string, RegExp][] = [
    [401, {}, '', 'unauthorized', /publish key/],
    [403, {}, '{"error":{"code":"forbidden","message":"wrong publish key for demo"}}', 'forbidden', /wrong publish key/],
    [409, {}, 'stream is live\n', 'conflict', /stream is live/],
    [406, {}, '', 'not_acceptable', /codec/],
    [500, {}, '<html>oops</html>', 'http_500', /500/],
    [201, { 'content-type': 'application/json' }, '{}', 'protocol_error', /application\/json/],
    [201, { 'content-type': 'application/sdp' }, SDP, 'protocol_error', /Location/],
    [201, { 'content-type': 'application/sdp', location: '/x' }, 'nope', 'protocol_error', /not an SDP/],
  ];
  for (const [status, h, body, code, msg] of cases) {
    assert.throws(
      () => parseWhipAnswer(status, headers(h), body, 'http://h/whip/demo'),
      (e: unknown) => e instanceof WhipError && e.status === status && e.code === code && msg.test(e.message),
      `${status} ${body}`,
    );
  }
});

test('parseIceServers: Link rel=ice-server headers', () => {
  assert.deepEqual(parseIceServers(null), []);
  assert.deepEqual(
    parseIceServers('<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u,1"; credential="p;w"; credential-type="password", </other>; rel="next"'),
    [{ urls: 'stun:stun.example.net' }, { urls: 'turn:turn.example.net?transport=udp', username: 'u,1', credential: 'p;w' }],
  );
});

test('preferCodecs: H.264 packetization-mode 1 first, Opus first', () => {
  const v = [
    { mimeType: 'video/VP8' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f' },
    { mimeType: 'video/H264', sdpFmtpLine: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
    { mimeType: 'video/rtx' },
  ];
  assert.deepEqual(preferCodecs(v, 'video').map((c) => `${c.mimeType} ${c.sdpFmtpLine ?? ''}`.trim()), [
    'video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    'video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
    'video/H264 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
    'video/VP8',
    'video/rtx',
  ]);
  assert.deepEqual(preferCodecs([{ mimeType: 'audio/PCMU' }, { mimeType: 'audio/opus' }], 'audio').map((c) => c.mimeType), ['audio/opus', 'audio/PCMU']);
});

test('whipURL', () => {
  assert.equal(whipURL('http://h:8080', 'my show'), 'http://h:8080/whip/my%20show');
});
