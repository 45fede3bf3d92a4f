#!/usr/bin/env node
// Launcher: runs the TypeScript entry through tsx (no build step yet). Paths are relative to this
// file, so it works from any working directory.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
