import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CUE_CLASS,
  DATE_PRECISION,
  dateRangeToCue,
  decodeXData,
  mediaTimeAt,
  pdtLatency,
  placeDateRange,
  wallClockAt,
  type ParsedSegment,
  type PdtSegment,
} from '../src/player/program-date.js';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');
// As in deliver/llhls/testdata/cues.m3u8: 2 s segments, the PDT of each.
const segs: PdtSegment[] = [
  { start: 10, duration: 2, programDateTime: T0 },
  { start: 12, duration: 2, programDateTime: T0 + 2000 },
  { start: 14, duration: 0.4, programDateTime: T0 + 4000 },
];

test('wallClockAt: the PDT of the segment plus the time into it', () => {
  assert.equal(wallClockAt(segs, 10), T0);
  assert.equal(wallClockAt(segs, 11.5), T0 + 1500);
  assert.equal(wallClockAt(segs, 13.25), T0 + 3250);
  assert.equal(wallClockAt(segs, 14.1), T0 + 4100);
  // Past the last segment (the part being written) and before the first: extrapolated.
  assert.equal(wallClockAt(segs, 14.6), T0 + 4600);
  assert.equal(wallClockAt(segs, 9.5), T0 - 500);
  assert.equal(wallClockAt([], 1), undefined);
  assert.equal(wallClockAt([{ start: 0, duration: 2, programDateTime: null }], 1), undefined);
});

test('wallClockAt: a jump in PDT (a gap in ingest) follows each segment', () => {
  const gap: PdtSegment[] = [
    { start: 0, duration: 2, programDateTime: T0 },
    { start: 2, duration: 2, programDateTime: T0 + 30_000 },
  ];
  assert.equal(wallClockAt(gap, 1.9), T0 + 1900);
  assert.equal(wallClockAt(gap, 2.5), T0 + 30_500);
  assert.equal(mediaTimeAt(gap, T0 + 30_100), 2.1);
});

test('mediaTimeAt: the inverse of wallClockAt', () => {
  for (const t of [10, 10.7, 12, 13.999, 14.3]) assert.ok(Math.abs(mediaTimeAt(segs, wallClockAt(segs, t)!)! - t) < 1e-9, String(t));
  assert.equal(mediaTimeAt(segs, T0 - 1000), 9);
  assert.equal(mediaTimeAt([], T0), undefined);
});

test('pdtLatency: server now minus the ingest time of the frame on screen', () => {
  // The frame at 13.4 s was ingested at T0 + 3.4 s; the server says T0 + 4.2 s.
  const l = pdtLatency(segs, 13.4, T0 + 4200)!;
  assert.ok(Math.abs(l - 0.8) < 1e-9, String(l));
  assert.equal(pdtLatency(segs, 13.4, undefined), undefined);
  assert.equal(pdtLatency([], 13.4, T0), undefined);
});

test('dateRangeToCue: a urn:liveloop:cue DATERANGE fires at the media time of its START-DATE', () => {
  // #EXT-X-DATERANGE:ID="poll-1",CLASS="urn:liveloop:cue",START-DATE="2025-06-01T12:00:03.300Z",
  //   DURATION=15.000,X-TYPE="poll.opened",X-DATA="eyJxIjoiV2hvIFwid2luc1wiPyJ9"
  const cue = dateRangeToCue(
    {
      id: 'poll-1',
      class: CUE_CLASS,
      startDate: Date.parse('2025-06-01T12:00:03.300Z'),
      attr: { ID: 'poll-1', 'X-TYPE': 'poll.opened', 'X-DATA': 'eyJxIjoiV2hvIFwid2luc1wiPyJ9', DURATION: '15.000' },
    },
    segs,
  );
  assert.ok(cue);
  assert.equal(cue.id, 'poll-1');
  assert.equal(cue.type, 'poll.opened');
  assert.deepEqual(cue.payload, { q: 'Who "wins"?' });
  assert.ok(Math.abs(cue.mediaTime - 13.3) < 1e-9, String(cue.mediaTime));

  // No X-DATA: payload null.
  const bare = dateRangeToCue({ id: 'lot_2', class: CUE_CLASS, startDate: Date.parse('2025-06-01T12:00:03.310Z'), attr: { 'X-TYPE': 'lot.sold' } }, segs);
  assert.equal(bare?.payload, null);
  assert.equal(bare?.type, 'lot.sold');
});

test('dateRangeToCue: other classes, and playlists without PDT, give no cue', () => {
  assert.equal(dateRangeToCue({ id: 'ad', class: 'com.apple.hls.interstitial', startDate: T0, attr: {} }, segs), undefined);
  assert.equal(dateRangeToCue({ id: 'x', startDate: T0, attr: {} }, segs), undefined);
  assert.equal(dateRangeToCue({ id: 'x', class: CUE_CLASS, startDate: T0, attr: {} }, []), undefined);
});

test('decodeXData: base64 UTF-8 JSON, null otherwise', () => {
  const b64 = Buffer.from(JSON.stringify({ name: 'Zoë ✓', n: [1, 2] })).toString('base64');
  assert.deepEqual(decodeXData(b64), { name: 'Zoë ✓', n: [1, 2] });
  assert.equal(decodeXData('%%%'), null);
  assert.equal(decodeXData(Buffer.from('not json').toString('base64')), null);
});

test('placeDateRange: through the parsed start of the segment the cue falls in, a millisecond early', () => {
  const dr = { id: 'c1', class: CUE_CLASS, startDate: T0 + 2000 + 433, attr: { 'X-TYPE': 'mark' } };
  // hls.js thinks segment 2 starts at 12 (the playlist's durations); it starts at 11.99.
  const parsed: ParsedSegment[] = [
    { start: 10, duration: 2, programDateTime: T0, parsedStart: 10 },
    { start: 12, duration: 2, programDateTime: T0 + 2000, parsedStart: 11.99 },
    { start: 14, duration: 0.4, programDateTime: T0 + 4000 },
  ];
  const cue = placeDateRange(dr, parsed);
  assert.ok(cue);
  assert.ok(Math.abs(cue.mediaTime - (11.99 + 0.433 - DATE_PRECISION)) < 1e-9, String(cue.mediaTime));
  assert.equal(cue.type, 'mark');
  assert.equal(cue.payload, null);
  // Not parsed yet: wait.
  assert.equal(placeDateRange(dr, parsed.map((s) => ({ ...s, parsedStart: undefined }))), undefined);
  // Past the end of the segment being written: its own segment is not listed yet.
  assert.equal(placeDateRange({ ...dr, startDate: T0 + 4000 + 450 }, [...parsed.slice(0, 2), { ...parsed[2]!, parsedStart: 14 }]), undefined);
  assert.ok(placeDateRange({ ...dr, startDate: T0 + 4000 + 350 }, [...parsed.slice(0, 2), { ...parsed[2]!, parsedStart: 14 }]));
  // Before every dated segment: wait; not a cue: null.
  assert.equal(placeDateRange({ ...dr, startDate: T0 - 10 }, parsed), undefined);
  assert.equal(placeDateRange({ ...dr, class: 'com.example' }, parsed), null);
});
