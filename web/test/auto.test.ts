import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTransportChoice, TransportSelector } from '../src/player/auto.js';

const both = { webrtc: true, mse: true };

/** A fake clock the test moves by hand. */
class Clock {
  t = 1000;
  advance(ms: number) {
    this.t += ms;
    return this.t;
  }
}

test('auto: WebRTC first; a frame within the timeout keeps it', () => {
  const clk = new Clock();
  const s = new TransportSelector('auto', both);
  assert.equal(s.current, 'webrtc');
  s.attempt();
  s.answered(clk.t);
  assert.equal(s.check(clk.advance(3000)), false);
  s.frameShown();
  assert.equal(s.check(clk.advance(10_000)), false);
  assert.equal(s.current, 'webrtc');
  assert.equal(s.fallbackReason, null);
});

test('auto: no frame within 3.5 s of the answer falls back to ws, once', () => {
  const clk = new Clock();
  const s = new TransportSelector('auto', both);
  s.attempt();
  // The POST takes a while: the clock starts at the answer.
  clk.advance(5000);
  assert.equal(s.check(clk.t), false);
  s.answered(clk.t);
  assert.equal(s.check(clk.advance(3499)), false);
  assert.equal(s.check(clk.advance(1)), true);
  assert.equal(s.current, 'ws');
  assert.equal(s.fallbackReason, 'no_frame_in_3.5s');
  // Once on ws, nothing more happens.
  assert.equal(s.check(clk.advance(10_000)), false);
  assert.equal(s.failed('ice_failed', true), false);
  assert.equal(s.current, 'ws');
});

test('auto: the timeout is configurable', () => {
  const s = new TransportSelector('auto', both, { firstFrameTimeoutMs: 1000 });
  s.attempt();
  s.answered(0);
  assert.equal(s.check(999), false);
  assert.equal(s.check(1000), true);
  assert.equal(s.fallbackReason, 'no_frame_in_1.0s');
});

test('auto: ICE failure and refusals another transport may survive fall back; offline does not', () => {
  const a = new TransportSelector('auto', both);
  a.attempt();
  assert.equal(a.failed('not_found', false), false);
  assert.equal(a.current, 'webrtc');
  assert.equal(a.failed('network_error', false), false);
  assert.equal(a.failed('ice_failed', true), true);
  assert.equal(a.current, 'ws');
  assert.equal(a.fallbackReason, 'ice_failed');

  const b = new TransportSelector('auto', both);
  b.attempt();
  assert.equal(b.failed('no_compatible_codec', true), true);
  assert.equal(b.fallbackReason, 'no_compatible_codec');
});

test('auto: a WebRTC session that played and then dropped is retried on WebRTC', () => {
  const s = new TransportSelector('auto', both);
  s.attempt();
  s.answered(0);
  s.frameShown();
  assert.equal(s.failed('connection_lost', true), false);
  assert.equal(s.current, 'webrtc');
  // The retry must show a frame again.
  s.attempt();
  s.answered(10_000);
  assert.equal(s.check(13_600), true);
  assert.equal(s.current, 'ws');
});

test('auto: without WebRTC in the browser, ws from the start', () => {
  const s = new TransportSelector('auto', { webrtc: false, mse: true });
  assert.equal(s.current, 'ws');
  assert.equal(s.fallbackReason, 'webrtc_unsupported');
});

test('forced transports never fall back', () => {
  for (const kind of ['webrtc', 'ws', 'hls'] as const) {
    const s = new TransportSelector(kind, both);
    s.attempt();
    s.answered(0);
    assert.equal(s.check(60_000), false, kind);
    assert.equal(s.failed('ice_failed', true), false, kind);
    assert.equal(s.current, kind);
    assert.equal(s.fallbackReason, null);
  }
});

test('parseTransportChoice', () => {
  assert.equal(parseTransportChoice('webrtc'), 'webrtc');
  assert.equal(parseTransportChoice('auto'), 'auto');
  assert.equal(parseTransportChoice('rtmp'), undefined);
  assert.equal(parseTransportChoice(undefined), undefined);
});
