import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureWallMs, NTP_UNIX_OFFSET_MS, readWhepResponse, resolveLocation, RtpUnwrapper, WhepError, whepURL } from '../src/player/whep.js';
import { parseChannelCue } from '../src/player/webrtc-transport.js';
import { CueScheduler } from '../src/player/cues.js';

const URL_ = 'http://example.test:8080/whep/cam';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const json = (error: string, message = 'm') => JSON.stringify({ error, message });

test('whepURL: /whep/{stream} on the base, ws(s) mapped to http(s), path segments kept', () => {
  assert.equal(whepURL('http://h:1/', 'cam'), 'http://h:1/whep/cam');
  assert.equal(whepURL('https://h/base/?x=1#y', 'a b'), 'https://h/base/whep/a%20b');
  assert.equal(whepURL('wss://h', 'show/720p'), 'https://h/whep/show/720p');
  assert.equal(whepURL('ws://h', 'x'), 'http://h/whep/x');
});

test('readWhepResponse: 201 gives the answer and the Location resolved against the endpoint', () => {
  const a = readWhepResponse(URL_, { status: 201, location: '/whep/session/abc', contentType: 'application/sdp', body: SDP });
  assert.equal(a.sdp, SDP);
  assert.equal(a.location, 'http://example.test:8080/whep/session/abc');
  const b = readWhepResponse(URL_, { status: 201, location: 'session/x', contentType: 'application/sdp', body: SDP });
  assert.equal(b.location, 'http://example.test:8080/whep/session/x');
  const c = readWhepResponse(URL_, { status: 201, location: 'https://edge.test/s/1', contentType: null, body: SDP });
  assert.equal(c.location, 'https://edge.test/s/1');
  const d = readWhepResponse(URL_, { status: 201, location: null, contentType: null, body: SDP });
  assert.equal(d.location, undefined);
});

test('readWhepResponse: statuses and codes map to stable errors, with whether to fall back', () => {
  const cases: { name: string; status: number; ct: string | null; body: string; code: string; fallback: boolean }[] = [
    { name: 'stream not live', status: 404, ct: 'application/json', body: json('not_found'), code: 'not_found', fallback: false },
    { name: 'no WHEP here', status: 404, ct: 'text/plain', body: '404 page not found\n', code: 'whep_unavailable', fallback: true },
    { name: 'no codec', status: 406, ct: 'application/json', body: json('no_compatible_codec'), code: 'no_compatible_codec', fallback: true },
    { name: 'bad sdp', status: 400, ct: 'application/json', body: json('bad_sdp'), code: 'bad_sdp', fallback: true },
    { name: 'content type', status: 415, ct: 'application/json', body: json('unsupported_media_type'), code: 'unsupported_media_type', fallback: true },
    { name: 'method', status: 405, ct: 'text/plain', body: 'Method Not Allowed', code: 'whep_unavailable', fallback: true },
    { name: 'shutting down', status: 503, ct: 'application/json', body: json('shutting_down'), code: 'server_shutdown', fallback: false },
    { name: 'internal', status: 500, ct: 'application/json', body: json('internal'), code: 'internal', fallback: false },
    { name: 'bare 502', status: 502, ct: 'text/html', body: '<html>', code: 'server_error', fallback: false },
    { name: 'rate limited', status: 429, ct: null, body: '', code: 'rate_limited', fallback: false },
    { name: 'API error shape', status: 403, ct: 'application/json', body: '{"error":{"code":"forbidden","message":"no"}}', code: 'forbidden', fallback: true },
    { name: '201 without SDP', status: 201, ct: 'text/plain', body: 'hello', code: 'bad_answer', fallback: true },
  ];
  for (const c of cases) {
    assert.throws(
      () => readWhepResponse(URL_, { status: c.status, location: null, contentType: c.ct, body: c.body }),
      (err: unknown) => {
        assert.ok(err instanceof WhepError, c.name);
        assert.equal(err.code, c.code, c.name);
        assert.equal(err.fallback, c.fallback, c.name);
        assert.equal(err.status, c.status, c.name);
        return true;
      },
    );
  }
});

test('readWhepResponse: the server message is kept', () => {
  assert.throws(
    () => readWhepResponse(URL_, { status: 404, location: null, contentType: 'application/json', body: json('not_found', 'stream "cam" is not live') }),
    /stream "cam" is not live/,
  );
});

test('resolveLocation: bad values are undefined', () => {
  assert.equal(resolveLocation('', URL_), undefined);
  assert.equal(resolveLocation('http://[::1', URL_), undefined);
});

test('captureWallMs: NTP epoch ms to Unix ms, sender offset applied', () => {
  const unix = Date.UTC(2025, 5, 1, 12, 0, 0, 250);
  assert.equal(captureWallMs(unix + NTP_UNIX_OFFSET_MS), unix);
  assert.equal(captureWallMs(unix + NTP_UNIX_OFFSET_MS, 40), unix - 40);
  assert.equal(captureWallMs(undefined), undefined);
  assert.equal(captureWallMs(0), undefined);
});

test('RtpUnwrapper: monotonic across the 32-bit wrap, late values placed near', () => {
  const u = new RtpUnwrapper();
  assert.equal(u.unwrap(0xffff_f000), 0xffff_f000);
  assert.equal(u.unwrap(0x0000_1000), 0x1_0000_1000);
  assert.equal(u.unwrap(0xffff_f800), 0xffff_f800); // late, before the wrap
  assert.equal(u.unwrap(0x0000_2000), 0x1_0000_2000);
  const v = new RtpUnwrapper();
  assert.equal(v.unwrap(3000), 3000);
  assert.equal(v.unwrap(6000), 6000);
  assert.equal(v.unwrap(4500), 4500);
});

test('parseChannelCue: JSON with an RTP timestamp, placed on the frame clock', () => {
  const c = parseChannelCue('{"id":"c1","type":"poll.open","payload":{"q":1},"mediaTime":12.5,"rtpTimestamp":900000}', (ts) => ts / 90000);
  assert.deepEqual(c, { id: 'c1', type: 'poll.open', payload: { q: 1 }, mediaTime: 10 });
  const now = parseChannelCue('{"id":"c2","type":"x"}', () => 0);
  assert.equal(now?.mediaTime, -Infinity);
  assert.equal(now?.payload, null);
  assert.equal(parseChannelCue('not json', () => 0), undefined);
  assert.equal(parseChannelCue('{"type":"no id"}', () => 0), undefined);
});

test('channel cues fire at the first frame whose RTP timestamp is not earlier, across the 32-bit wrap', () => {
  const rtp = new RtpUnwrapper();
  const frameTime = (ts: number) => rtp.unwrap(ts) / 90000;
  const cues = new CueScheduler();
  // Frames 3000 ticks apart, the clock wrapping between the second and third.
  const frames = [0xffff_e000, 0xffff_fbb8 >>> 0, (0xffff_fbb8 + 3000) >>> 0, (0xffff_fbb8 + 6000) >>> 0];
  assert.equal(frameTime(frames[0]!), 0xffff_e000 / 90000);
  // A cue stamped on the third frame (after the wrap), one between the
  // third and the fourth, and one on the first.
  for (const [id, ts] of [['c3', frames[2]!], ['c3.5', (frames[2]! + 30) >>> 0], ['c1', frames[0]!]] as const) {
    const c = parseChannelCue(JSON.stringify({ id, type: 't', payload: null, mediaTime: 1, rtpTimestamp: ts }), frameTime);
    assert.ok(c);
    cues.add(c);
  }
  assert.deepEqual(cues.due(frameTime(frames[0]!)).map((c) => c.id), ['c1']);
  assert.deepEqual(cues.due(frameTime(frames[1]!)).map((c) => c.id), []);
  assert.deepEqual(cues.due(frameTime(frames[2]!)).map((c) => c.id), ['c3']);
  assert.deepEqual(cues.due(frameTime(frames[3]!)).map((c) => c.id), ['c3.5']);
});
