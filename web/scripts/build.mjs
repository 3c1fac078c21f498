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
await build({ ...esm, entryPoints: { player: 'src/pages/watch.ts' } });
await build({ ...esm, entryPoints: { studio: 'src/pages/studio.ts' } });
await build({ ...esm, entryPoints: { 'liveloop-player': 'src/player/index.ts' } });
await build({ ...common, entryPoints: ['static/style.css'], outfile: 'dist/style.css', loader: { '.css': 'css' } });

for (const f of (await readdir(join(root, 'static'))).sort()) {
  if (f.endsWith('.html')) await copyFile(join(root, 'static', f), join(dist, f));
}
