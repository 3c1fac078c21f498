// Builds web/dist: the watch page bundle, the embeddable ESM player library,
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

await build({ ...common, entryPoints: ['src/pages/watch.ts'], outfile: 'dist/player.js', format: 'esm', platform: 'browser' });
await build({ ...common, entryPoints: ['src/player/index.ts'], outfile: 'dist/liveloop-player.js', format: 'esm', platform: 'browser' });
await build({ ...common, entryPoints: ['static/style.css'], outfile: 'dist/style.css', loader: { '.css': 'css' } });

for (const f of (await readdir(join(root, 'static'))).sort()) {
  if (f.endsWith('.html')) await copyFile(join(root, 'static', f), join(dist, f));
}
