// Compiles the unit tests (test/*.test.ts and the pure modules they import)
// with esbuild into build/test, then runs them with Node's built-in test
// runner. Works offline after `npm ci`.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build', 'test');
const tests = (await readdir(join(root, 'test'))).filter((f) => f.endsWith('.test.ts')).sort();
if (tests.length === 0) {
  console.error('no tests found in web/test');
  process.exit(1);
}

await rm(out, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: tests.map((f) => `test/${f}`),
  outdir: 'build/test',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  packages: 'external',
  logLevel: 'warning',
});

const files = tests.map((f) => join(out, f.replace(/\.ts$/, '.mjs')));
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
