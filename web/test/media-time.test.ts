// Player.mediaTime() on WebRTC and LL-HLS: the mappings from each
// transport's frame clock to the stream's timeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTP_VIDEO_CLOCK, RtpTimeline, RtpUnwrapper } from '../src/player/whep.js';
import { parseChannelCue, parseChannelMessage } from '../src/player/webrtc-transport.js';
import { hlsStreamTime } from '../src/player/program-date.js';
import { CueScheduler } from '../src/player/cues.js';

const near = (got: number | undefined, want: number, eps = 1e-9) =>
  assert.ok(got !== undefined && Math.abs(got - want) < eps, `got ${got}, want ${want}`);

test('parseChannelMessage: clock points, cues, and nothing else', () => {
  assert.deepEqual(parseChannelMessage('{"clock":{"rtpTimestamp":4294967295,"mediaTime":12.345}}', () => 0), {
    clock: { rtpTimestamp: 4294967295, mediaTime: 12.345 },
  });
  const cue = parseChannelMessage('{"id":"c","type":"t","payload":1,"mediaTime":3,"rtpTimestamp":90000}', (ts) => ts / 90000);
  assert.deepEqual(cue, { cue: { id: 'c', type: 't', payload: 1, mediaTime: 1 } });
  for (const bad of [
    '{"clock":{"rtpTimestamp":-1,"mediaTime":1}}',
    '{"clock":{"rtpTimestamp":4294967296,"mediaTime":1}}',
    '{"clock":{"rtpTimestamp":1.5,"mediaTime":1}}',
    '{"clock":{"rtpTimestamp":1}}',
    '{"clock":{"rtpTimestamp":1,"mediaTime":"1"}}',
    '{"clock":1}',
    '{"later":{"x":1}}',
    'null',
    '[',
  ]) {
    assert.equal(parseChannelMessage(bad, () => 0), undefined, bad);
  }
  // A clock point is not a cue.
  assert.equal(parseChannelCue('{"clock":{"rtpTimestamp":1,"mediaTime":1}}', () => 0), undefined);
});

test('RtpTimeline: the newest point at or before a frame, plus the RTP time since', () => {
  const tl = new RtpTimeline();
  assert.equal(tl.mediaTime(1000), undefined);
  tl.add(1000, 10);
  near(tl.mediaTime(1000), 10);
  near(tl.mediaTime(1000 + 3000), 10 + 3000 / RTP_VIDEO_CLOCK);
  assert.equal(tl.mediaTime(999), undefined, 'before the first point: unknown');
  // A catch-up from the GOP cache: frames 1 ms (90 ticks) apart in RTP time
  // but a frame (3000 ticks) apart on the stream's timeline, then a new
  // offset for the live frames after them.
  const start = 100_000;
  const pts = [20, 20 + 1 / 30, 20 + 2 / 30];
  pts.forEach((t, i) => tl.add(start + 90 * i, t));
  const live = start + 90 * 3;
  tl.add(live, 20 + 3 / 30);
  pts.forEach((t, i) => near(tl.mediaTime(start + 90 * i), t));
  near(tl.mediaTime(live + 3000 * 10), 20 + 13 / 30);
  // The frames before the restart keep the old offset.
  near(tl.mediaTime(start - 3000), 10 + (start - 3000 - 1000) / RTP_VIDEO_CLOCK);
  // A point again at the same RTP time replaces it; one out of order is placed in order.
  tl.add(live, 21);
  near(tl.mediaTime(live), 21);
  tl.add(start + 45, 5);
  near(tl.mediaTime(start + 50), 5 + 5 / RTP_VIDEO_CLOCK);
  near(tl.mediaTime(start + 90), pts[1]!);
  // Non-finite points are ignored.
  tl.add(Number.NaN, 1);
  tl.add(1, Number.POSITIVE_INFINITY);
  assert.equal(tl.mediaTime(999), undefined);
});

test('RtpTimeline: keeps the newest points', () => {
  const tl = new RtpTimeline(3);
  for (let i = 0; i < 5; i++) tl.add(i * 1000, i);
  assert.equal(tl.size, 3);
  assert.equal(tl.mediaTime(1500), undefined);
  near(tl.mediaTime(2500), 2 + 500 / RTP_VIDEO_CLOCK);
});

test('WebRTC: a frame and the cue stamped on it land on the same stream time, across the 32-bit wrap', () => {
  // What the transport does: one unwrapper for frames, cues and clock
  // points; frames on the RTP clock (frameTime), mapped through the clock
  // points (streamTime).
  const rtp = new RtpUnwrapper();
  const tl = new RtpTimeline();
  const frameTime = (ts: number) => rtp.unwrap(ts) / RTP_VIDEO_CLOCK;
  const streamTime = (ft: number) => tl.mediaTime(Math.round(ft * RTP_VIDEO_CLOCK));
  const onMessage = (text: string) => {
    const m = parseChannelMessage(text, frameTime);
    if (m?.clock) tl.add(rtp.unwrap(m.clock.rtpTimestamp), m.clock.mediaTime);
    return m?.cue;
  };
  // The server: RTP = PTS + offset (mod 2^32), the offset close to the wrap.
  const offset = 0xffff_ff00 - 90000 * 100;
  const rtpOf = (ptsTicks: number) => (ptsTicks + offset) >>> 0;
  const firstPts = 90000 * 100 - 3000;
  assert.equal(onMessage(JSON.stringify({ clock: { rtpTimestamp: rtpOf(firstPts), mediaTime: firstPts / 90000 } })), undefined);
  const cues = new CueScheduler();
  const cuePts = firstPts + 3000 * 4; // after the wrap
  const cue = onMessage(JSON.stringify({ id: 'c', type: 't', payload: null, mediaTime: cuePts / 90000, rtpTimestamp: rtpOf(cuePts) }));
  assert.ok(cue);
  cues.add(cue);
  for (let i = 0; i < 8; i++) {
    const pts = firstPts + 3000 * i;
    const ft = frameTime(rtpOf(pts));
    near(streamTime(ft), pts / 90000);
    const due = cues.due(ft);
    if (pts < cuePts) assert.deepEqual(due, []);
    if (pts === cuePts) {
      assert.deepEqual(due.map((c) => c.id), ['c']);
      // Player.mediaTime() when the cue fires: the cue's own time.
      near(streamTime(ft), cuePts / 90000);
    }
  }
});

test('hlsStreamTime: hls.js media time plus the initPTS of the segment\'s discontinuity', () => {
  const segs = [
    { start: 10, cc: 0 },
    { start: 12, cc: 0 },
    { start: 14, cc: 1 },
    { start: 16, cc: 1 },
  ];
  // hls.js's SourceBuffer timestampOffset is -baseTime/timescale: stream time
  // 1000.5 plays at media time 10.5 with an initPTS of 990 s.
  const pts = [{ baseTime: 990 * 90000, timescale: 90000 }, { baseTime: 990.02 * 48000, timescale: 48000 }];
  near(hlsStreamTime(10.5, segs, pts), 1000.5);
  near(hlsStreamTime(13.9, segs, pts), 1003.9);
  near(hlsStreamTime(14, segs, pts), 1004.02);
  near(hlsStreamTime(30, segs, pts), 1020.02, 1e-6);
  // Before the first segment listed: the first's cc.
  near(hlsStreamTime(9, segs, pts), 999);
  // No initPTS for the segment's cc: the newest's, else the last known.
  near(hlsStreamTime(15, segs, [pts[0]!], 0), 1005);
  near(hlsStreamTime(15, segs, [pts[0]!]), 1005);
  near(hlsStreamTime(15, [], pts, 1), 1005.02, 1e-6);
  assert.equal(hlsStreamTime(15, segs, []), undefined);
  assert.equal(hlsStreamTime(Number.NaN, segs, pts), undefined);
  assert.equal(hlsStreamTime(1, segs, [{ baseTime: 1, timescale: 0 }]), undefined);
});
