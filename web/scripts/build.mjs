// Builds web/dist: the watch page bundle, the studio page bundle, the embeddable ESM player library,
// the stylesheet and the HTML pages. The output is deterministic (same
// sources and esbuild version, same bytes), so CI can rebuild and check that
// the committed dist is up to date with `git diff --exit-code web/dist`.
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  target: ['chrome100', 'firefox100', 'safari15'],
  logLevel: 'warning',
};

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

// hls.js is imported on demand (only the LL-HLS transport uses it), so it
// is split into a chunk of its own: dist/hls.light-HASH.js. Each bundle is
// built on its own, so the only chunks are such dynamic imports (the two
// builds write the same hls.js chunk, byte for byte).
const esm = { ...common, format: 'esm', platform: 'browser', splitting: true, outdir: 'dist', chunkNames: '[name]-[hash]' };
// The watch page: player.js is what the first frame needs (the Player and a
// little page code); the room and the stats overlay's updates are
// watch-ui-HASH.js, which it imports after the first frame. The two are
// built apart (the few small modules both use are in both), because in one
// build esbuild would move those into a chunk that player.js imports
// statically: fetched only once player.js had arrived and been parsed, a
// round trip more before the player starts. checkBoot keeps it so.
const ui = await build({ ...esm, entryPoints: { 'watch-ui': 'src/pages/watch-ui.ts' }, entryNames: '[name]-[hash]', metafile: true });
const uiFile = Object.keys(ui.metafile.outputs).find((f) => /^dist\/watch-ui-[^/]+\.js$/.test(f));
const uiChunk = {
  name: 'watch-ui-chunk',
  setup(b) {
    b.onResolve({ filter: /^\.\/watch-ui\.js$/ }, () => ({ path: `./${uiFile.slice('dist/'.length)}`, external: true }));
  },
};
const watch = await build({ ...esm, entryPoints: { player: 'src/pages/watch.ts' }, metafile: true, plugins: [uiChunk] });
checkBoot(watch.metafile, 'dist/player.js', uiFile);
await build({ ...esm, entryPoints: { studio: 'src/pages/studio.ts' } });
await build({ ...esm, entryPoints: { 'liveloop-player': 'src/player/index.ts' } });
await build({ ...common, entryPoints: ['static/style.css'], outfile: 'dist/style.css', loader: { '.css': 'css' } });

for (const f of (await readdir(join(root, 'static'))).sort()) {
  if (f.endsWith('.html')) await copyFile(join(root, 'static', f), join(dist, f));
}

/**
 * Fails the build if the watch page's first module imports anything
 * statically, holds the room's code, or does not load the room's chunk.
 */
function checkBoot(metafile, file, uiFile) {
  const out = metafile.outputs[file];
  const eager = out.imports.filter((i) => i.kind === 'import-statement');
  if (eager.length) throw new Error(`${file} imports ${eager.map((i) => i.path).join(', ')} statically: a request waterfall before the player starts`);
  const room = Object.keys(out.inputs).filter((p) => p.startsWith('src/room/'));
  if (room.length) throw new Error(`${file} holds the room's code (${room.join(', ')}): load it after the first frame`);
  const want = `./${uiFile.slice('dist/'.length)}`;
  if (!out.imports.some((i) => i.kind === 'dynamic-import' && i.path === want)) throw new Error(`${file} does not import ${want}`);
}
