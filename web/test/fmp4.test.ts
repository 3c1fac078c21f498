import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  boxes,
  Fmp4Error,
  ntpToUnixMs,
  parseEmsg,
  parseInitTracks,
  parseMoof,
  parsePrft,
  prftMediaTime,
  scanSegment,
} from '../src/player/fmp4.js';
import { box, cat, fullbox, init, mdat, moof, prft, str, u32, u64, u8 } from './mp4.js';

test('boxes: sizes, 64-bit size, size 0 to the end', () => {
  const large = cat(u32(1), str('free'), u64(20), new Uint8Array(4));
  const data = cat(box('ftyp', str('isom')), large, cat(u32(0), str('mdat'), new Uint8Array(7)));
  const got = [...boxes(data)].map((b) => [b.type, b.start, b.headerSize, b.end]);
  assert.deepEqual(got, [
    ['ftyp', 0, 8, 12],
    ['free', 12, 16, 32],
    ['mdat', 32, 8, 47],
  ]);
});

test('boxes: truncated or inconsistent input raises Fmp4Error', () => {
  for (const bad of [u8(0, 0, 0), cat(u32(100), str('moof')), cat(u32(4), str('moof')), cat(u32(1), str('free'), u32(0))]) {
    assert.throws(() => [...boxes(bad)], Fmp4Error);
  }
});

test('ntpToUnixMs: epoch, a known instant, the fraction', () => {
  assert.equal(ntpToUnixMs(2_208_988_800, 0), 0);
  // 2025-11-21T16:00:00Z
  assert.equal(ntpToUnixMs(1_763_740_800 + 2_208_988_800, 0), 1_763_740_800_000);
  assert.equal(ntpToUnixMs(2_208_988_800, 0x8000_0000), 500);
  assert.ok(Math.abs(ntpToUnixMs(2_208_988_801, 0x4000_0000) - 1250) < 1e-9);
});

for (const version of [0, 1]) {
  test(`parsePrft: version ${version}`, () => {
    const wall = 1_763_740_800_123.4;
    const data = prft(1, wall, 900_000, version);
    const b = [...boxes(data)][0]!;
    const p = parsePrft(data, b);
    assert.equal(p.version, version);
    assert.equal(p.referenceTrackId, 1);
    assert.equal(p.mediaTime, 900_000);
    assert.ok(Math.abs(p.wallClockMs - wall) < 0.001, `${p.wallClockMs} vs ${wall}`);
  });
}

test('parsePrft: 64-bit media time beyond 2^32', () => {
  const data = prft(1, 0, 2 ** 40 + 7);
  assert.equal(parsePrft(data, [...boxes(data)][0]!).mediaTime, 2 ** 40 + 7);
});

test('parseMoof: track, tfdt, durations, keyframe flag', () => {
  const data = moof(1, 2 ** 33, [3000, 3000, 3003], true);
  const [f] = parseMoof(data, [...boxes(data)][0]!);
  assert.deepEqual(f, { trackId: 1, baseMediaDecodeTime: 2 ** 33, sampleCount: 3, duration: 9003, firstSampleSync: true });
  const data2 = moof(2, 5, [1024], false);
  const [g] = parseMoof(data2, [...boxes(data2)][0]!);
  assert.equal(g!.firstSampleSync, false);
  assert.equal(g!.baseMediaDecodeTime, 5);
});

test('parseMoof: tfdt version 0 and default duration from tfhd', () => {
  const data = box(
    'moof',
    box(
      'traf',
      fullbox('tfhd', 0, 0x020000 | 0x8 | 0x20, u32(7), u32(1500), u32(0x01010000)),
      fullbox('tfdt', 0, 0, u32(123456)),
      fullbox('trun', 0, 0x1, u32(2), u32(0)),
    ),
  );
  const [f] = parseMoof(data, [...boxes(data)][0]!);
  assert.deepEqual(f, { trackId: 7, baseMediaDecodeTime: 123456, sampleCount: 2, duration: 3000, firstSampleSync: false });
});

test('parseEmsg: versions 0 and 1', () => {
  const v1 = fullbox('emsg', 1, 0, u32(1000), u64(12_345), u32(0), u32(42), str('urn:liveloop:cue\0'), str('poll\0'), str('{"id":"c1"}'));
  const e1 = parseEmsg(v1, [...boxes(v1)][0]!);
  assert.equal(e1.schemeIdUri, 'urn:liveloop:cue');
  assert.equal(e1.value, 'poll');
  assert.equal(e1.timescale, 1000);
  assert.equal(e1.presentationTime, 12_345);
  assert.equal(e1.id, 42);
  assert.equal(new TextDecoder().decode(e1.messageData), '{"id":"c1"}');
  const v0 = fullbox('emsg', 0, 0, str('urn:x\0'), str('é\0'), u32(90000), u32(900), u32(0), u32(1), str('hi'));
  const e0 = parseEmsg(v0, [...boxes(v0)][0]!);
  assert.equal(e0.value, 'é');
  assert.equal(e0.presentationTimeDelta, 900);
  assert.equal(e0.presentationTime, undefined);
});

test('scanSegment: prft and emsg pair with the following moof', () => {
  const data = cat(
    prft(1, 1000, 90_000),
    moof(1, 90_000, [3000]),
    mdat(),
    moof(2, 48_000, [1024]),
    mdat(),
    prft(1, 1033.3, 93_000),
    moof(1, 93_000, [3000], false),
    mdat(),
  );
  const s = scanSegment(data);
  assert.equal(s.hasInit, false);
  assert.equal(s.fragments.length, 3);
  assert.equal(s.prfts.length, 2);
  assert.equal(s.prfts[0]!.fragments![0]!.baseMediaDecodeTime, 90_000);
  assert.equal(s.prfts[1]!.fragments![0]!.baseMediaDecodeTime, 93_000);
  assert.equal(s.prfts[1]!.fragments![0]!.firstSampleSync, false);
});

test('scanSegment and parseInitTracks: init segment', () => {
  const data = init([
    [1, 90_000, 'vide'],
    [2, 48_000, 'soun'],
  ]);
  assert.equal(scanSegment(data).hasInit, true);
  assert.deepEqual(parseInitTracks(data), [
    { trackId: 1, timescale: 90_000, handler: 'vide' },
    { trackId: 2, timescale: 48_000, handler: 'soun' },
  ]);
});

test('scanSegment: every truncation either parses or raises Fmp4Error', () => {
  const data = cat(prft(1, 1000, 90_000), moof(1, 90_000, [3000, 3000]), mdat(16), init([[1, 90_000, 'vide']]));
  for (let n = 0; n < data.length; n++) {
    for (const piece of [data.subarray(0, n), data.subarray(n)]) {
      try {
        scanSegment(piece);
      } catch (err) {
        assert.ok(err instanceof Fmp4Error, `cut at ${n}: ${String(err)}`);
      }
    }
  }
  // Corrupt every byte in turn: still only Fmp4Error.
  for (let i = 0; i < data.length; i++) {
    const c = data.slice();
    c[i] = c[i]! ^ 0xff;
    try {
      scanSegment(c);
      parseInitTracks(c);
    } catch (err) {
      assert.ok(err instanceof Fmp4Error, `flip at ${i}: ${String(err)}`);
    }
  }
});

test('prftMediaTime: version 1 as is; version 0 unwrapped against the decode time', () => {
  const p = (version: number, mediaTime: number) => ({ version, flags: 1, referenceTrackId: 1, wallClockMs: 0, mediaTime });
  assert.equal(prftMediaTime(p(1, 2 ** 40 + 5), 0), 2 ** 40 + 5);
  assert.equal(prftMediaTime(p(0, 3003)), 3003);
  assert.equal(prftMediaTime(p(0, 3003), 3000), 3003); // PTS a little after DTS
  const dts = 2 ** 33 + 100; // past one 32-bit wrap
  assert.equal(prftMediaTime(p(0, (dts + 6006) % 2 ** 32), dts), dts + 6006);
  assert.equal(prftMediaTime(p(0, 2 ** 32 - 10), 2 ** 33 + 5), 2 ** 33 - 10); // PTS just before a wrap, DTS after
});
