import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatKbps, formatMs, parseWatchLocation } from '../src/pages/location.js';

test('parseWatchLocation: stream from the path, transport from ?proto (else auto)', () => {
  const cases: [string, string, string, string, boolean][] = [
    ['/watch/demo', '', 'demo', 'auto', false],
    ['/watch/demo/', '?proto=ws', 'demo', 'ws', false],
    ['/watch/my%20show', '', 'my show', 'auto', false],
    ['/watch/a%2Fb', '', 'a/b', 'auto', false],
    ['/watch/demo', '?proto=webrtc', 'demo', 'webrtc', false],
    ['/watch/demo', '?proto=hls', 'demo', 'hls', false],
    ['/watch/demo', '?proto=auto', 'demo', 'auto', false],
    ['/watch/demo', '?proto=srt', 'demo', 'auto', true],
    ['/watch.html', '?stream=x', 'x', 'auto', false],
    ['/', '', 'demo', 'auto', false],
  ];
  for (const [path, search, stream, transport, noted] of cases) {
    const t = parseWatchLocation(path, search);
    assert.equal(t.stream, stream, path + search);
    assert.equal(t.transport, transport, path + search);
    assert.equal(t.requested, new URLSearchParams(search).get('proto') ?? undefined);
    assert.equal(t.note !== undefined, noted, path + search);
  }
});

test('formatting', () => {
  assert.equal(formatKbps(2_345_678), '2,346 kbit/s');
  assert.equal(formatMs(0.1234), '123 ms');
  assert.equal(formatMs(null), '–');
});

test('parseWatchLocation: ?target sets the player target (seconds) when it is sensible', () => {
  assert.equal(parseWatchLocation('/watch/cam', '?target=0.12').targetLatency, 0.12);
  assert.equal(parseWatchLocation('/watch/cam', '?proto=ws&target=0.2').targetLatency, 0.2);
  for (const bad of ['', '?target=', '?target=0', '?target=-1', '?target=abc', '?target=11']) {
    assert.equal(parseWatchLocation('/watch/cam', bad).targetLatency, undefined, bad);
  }
});
