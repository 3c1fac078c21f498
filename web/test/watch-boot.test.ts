import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { PlayerState } from '../src/player/index.js';
import { afterFirstFrame, NO_FRAME_SOON } from '../src/pages/defer.js';
import { FakeTimers } from './fake-timers.js';

/** A first frame and a state stream driven by the test. */
function source() {
  let show!: () => void;
  let fail!: (e: Error) => void;
  const firstFrame = new Promise<void>((res, rej) => ((show = res), (fail = rej)));
  const fns: ((s: PlayerState) => void)[] = [];
  return {
    src: { firstFrame, onState: (fn: (s: PlayerState) => void) => void fns.push(fn) },
    show,
    fail,
    state: (s: PlayerState) => fns.forEach((fn) => fn(s)),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('afterFirstFrame: runs once at the first frame, not before, and drops its timer', async () => {
  const t = new FakeTimers();
  const s = source();
  let runs = 0;
  afterFirstFrame(s.src, () => runs++, 1500, t);
  s.state('connecting');
  s.state('buffering');
  t.advance(1000);
  await tick();
  assert.equal(runs, 0);
  s.show();
  await tick();
  assert.equal(runs, 1);
  assert.equal(t.pending, 0);
  s.state('ended');
  t.advance(5000);
  assert.equal(runs, 1);
});

test('afterFirstFrame: runs at once when no frame is coming soon', async () => {
  for (const st of ['offline', 'waiting', 'ended', 'error', 'stopped'] as PlayerState[]) {
    assert.ok(NO_FRAME_SOON.has(st));
    const t = new FakeTimers();
    const s = source();
    let runs = 0;
    afterFirstFrame(s.src, () => runs++, 1500, t);
    s.state(st);
    assert.equal(runs, 1, st);
    s.show();
    await tick();
    assert.equal(runs, 1, st);
  }
  for (const st of ['idle', 'connecting', 'buffering', 'playing', 'stalled', 'reconnecting'] as PlayerState[]) assert.ok(!NO_FRAME_SOON.has(st), st);
});

test('afterFirstFrame: runs after maxWaitMs without a frame, or when play() rejects', async () => {
  const t = new FakeTimers();
  const s = source();
  let runs = 0;
  afterFirstFrame(s.src, () => runs++, 1500, t);
  t.advance(1499);
  assert.equal(runs, 0);
  t.advance(1);
  assert.equal(runs, 1);
  s.show();
  await tick();
  assert.equal(runs, 1);

  const t2 = new FakeTimers();
  const s2 = source();
  let runs2 = 0;
  afterFirstFrame(s2.src, () => runs2++, 1500, t2);
  s2.fail(new Error('stopped'));
  await tick();
  assert.equal(runs2, 1);
  assert.equal(t2.pending, 0);
});

test('watch page: the first module holds the player and none of the room, which it imports on demand', async () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..') // web/, from web/build/test;
  const r = await build({
    absWorkingDir: root,
    entryPoints: ['src/pages/watch.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    outdir: 'out',
    metafile: true,
    logLevel: 'silent',
    plugins: [{ name: 'ui', setup: (b) => b.onResolve({ filter: /^\.\/watch-ui\.js$/ }, () => ({ path: './watch-ui.js', external: true })) }],
  });
  const outs = Object.values(r.metafile.outputs).filter((o) => o.entryPoint);
  assert.equal(outs.length, 1);
  const out = outs[0]!;
  const inputs = Object.keys(out.inputs);
  assert.ok(inputs.includes('src/player/player.ts'), 'the Player is in the first module');
  assert.deepEqual(inputs.filter((p) => p.startsWith('src/room/')), []);
  assert.deepEqual(out.imports.filter((i) => i.kind === 'import-statement'), []);
  assert.ok(out.imports.some((i) => i.kind === 'dynamic-import' && i.path === './watch-ui.js'));
});
