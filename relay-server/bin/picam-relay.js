#!/usr/bin/env node
// picam-relay launcher. Runs the bundle (dist/picam-relay.mjs, `npm run build`) when it is at least
// as new as the sources it was built from; otherwise (a checkout being edited, or never built) the
// TypeScript sources through tsx, so a stale bundle can never stand in for the code under test.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const bundle = join(here, '../dist/picam-relay.mjs');
const sources = [join(here, '../src'), join(here, '../../protocol/src'), join(here, '../../web/index.ts')];

function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const name of readdirSync(path)) if (!name.endsWith('.test.ts')) latest = Math.max(latest, newest(join(path, name)));
  return latest;
}

if (existsSync(bundle) && statSync(bundle).mtimeMs >= Math.max(...sources.map(newest))) {
  await import(new URL('../dist/picam-relay.mjs', import.meta.url).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
