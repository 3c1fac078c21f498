// Bundles tools/dev-server.ts with esbuild and runs it (see that file).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  absWorkingDir: root,
  entryPoints: ['tools/dev-server.ts'],
  outfile: 'build/dev-server.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
await import(join(root, 'build', 'dev-server.mjs'));
