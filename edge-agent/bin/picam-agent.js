#!/usr/bin/env node
// picam-agent launcher. On a Pi only the single-file bundle is installed (npm run build ->
// dist/picam-agent.mjs, which needs nothing but Node); in a checkout without a build, the
// TypeScript sources run through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/picam-agent.mjs', import.meta.url);
if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
