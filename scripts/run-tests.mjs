#!/usr/bin/env node
// Runs every *.test.ts in the workspaces with Node's own test runner (through tsx, so no build step).
// Node 20's --test does not expand globs, so the files are found here.
// Usage: npm test [-- <filter substring>...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { TestPhaseLock } from './test-phase-lock.mjs';

const root = new URL('..', import.meta.url).pathname;
const roots = ['protocol', 'edge-agent', 'relay-server', 'web', 'test', 'bench'];
const skip = new Set(['node_modules', 'dist', 'fixtures', 'results']);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) walk(full, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = roots
  .flatMap((r) => walk(join(root, r), []))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched', filters);
  process.exit(1);
}
// Suites that measure real-time behaviour in a browser or load the machine on purpose run one at a
// time after the rest: on a 2-core machine, two of them side by side starve each other's renderer
// and measure the scheduler instead of the product. relay-fanout is one: its 40 viewers, read by the
// test process at twice real time (43 MB/s of 1080p), must never fall 1 MiB behind, which a test
// process starved by another suite beside it did (the relay then rightly skipped frames for it).
// cluster-fanout is another: its 80 acking viewers live in the test process, and with two suites
// beside it one of them fell behind, and the edge relay rightly skipped it to a later keyframe.
// Everything else runs two files at a time.
const solo = (f) => /(^|\/)(e2e-[^/]*|faults-churn[^/]*|relay-fanout|cluster-fanout|smoke)\.test\.ts$/.test(f);
// Another `npm test` on the same machine (a second clone, CI beside a developer) may share the first
// phase but never the second: test-phase-lock.mjs keeps the alone phase alone across suites.
const phases = [
  { files: files.filter((f) => !solo(f)), concurrency: 2, lock: 'shared' },
  { files: files.filter(solo), concurrency: 1, lock: 'alone' },
].filter((phase) => phase.files.length > 0);
const lock = new TestPhaseLock();

/** Totals over the phases, read from each run's closing `# pass N` lines as they stream through. */
const totals = { pass: 0, fail: 0, skipped: 0, todo: 0 };

function run({ files: phaseFiles, concurrency }) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000', ...phaseFiles],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let partial = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^# (pass|fail|skipped|todo) (\d+)$/.exec(line);
        if (m) totals[m[1]] += Number(m[2]);
      }
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

let failedPhases = 0;
for (const phase of phases) {
  await (phase.lock === 'alone' ? lock.acquireAlone() : lock.acquireShared());
  if ((await run(phase)) !== 0) failedPhases += 1;
  lock.release();
}
// One closing line for the whole suite (both phases), in the plain form CI reads.
console.log(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped`);
process.exit(failedPhases === 0 && totals.fail === 0 ? 0 : 1);
