// Bundles the agent into one file, dist/picam-agent.mjs, so a Pi needs only Node 20 to run it:
// `node picam-agent.mjs run` or, with the shebang, `./picam-agent.mjs run`.
import { chmodSync, statSync } from 'node:fs';
import { build } from 'esbuild';

const outfile = new URL('./dist/picam-agent.mjs', import.meta.url).pathname;

await build({
  entryPoints: [new URL('./src/cli.ts', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // ws, pino and commander are CommonJS: inside an ES module bundle their require() of Node's
  // built-ins needs a real require.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __picamCreateRequire } from 'node:module';",
      'const require = __picamCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  // ws' optional native speed-ups: loaded in a try/catch when present, absent on a Pi.
  external: ['bufferutil', 'utf-8-validate'],
  legalComments: 'none',
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
console.log(`built ${outfile} (${Math.round(statSync(outfile).size / 1024)} KiB)`);
