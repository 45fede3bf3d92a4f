import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { REPO_ROOT } from './helpers/agent-process.ts';
import { tempDir } from './helpers/browser.ts';

/**
 * Two `npm test` runs on one machine: their shared phases may overlap, but an alone phase runs only
 * while no other suite runs anything (scripts/test-phase-lock.mjs). Each "suite" here is a process
 * holding the real lock on a temp directory, told by line what to take and release.
 */

const LOCK_MODULE = join(REPO_ROOT, 'scripts', 'test-phase-lock.mjs');
const SUITE = `
import { createInterface } from 'node:readline';
const { TestPhaseLock } = await import(process.argv[1]);
const lock = new TestPhaseLock(process.env.PICAM_TEST_LOCK_DIR);
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'shared') { await lock.acquireShared(); console.log('holds shared'); }
  if (line === 'alone') { await lock.acquireAlone(); console.log('holds alone'); }
  if (line === 'release') { lock.release(); console.log('released'); }
}
`;

class Suite {
  readonly lines: string[] = [];
  private readonly child: ChildProcess;
  private readonly waiters: Array<{ text: string; resolve: () => void }> = [];

  constructor(t: TestContext, dir: string) {
    this.child = spawn(process.execPath, ['--input-type=module', '-e', SUITE, LOCK_MODULE], { env: { ...process.env, PICAM_TEST_LOCK_DIR: dir }, stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => {
      this.child.kill('SIGKILL');
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const w of this.waiters.filter((x) => line.includes(x.text))) w.resolve();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  say(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** Resolves when the suite has printed a line containing `text` (now or later). */
  printed(text: string): Promise<void> {
    if (this.lines.some((l) => l.includes(text))) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }

  has(text: string): boolean {
    return this.lines.some((l) => l.includes(text));
  }

  kill(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

async function suites(t: TestContext, n: number): Promise<Suite[]> {
  const dir = tempDir(t, 'picam-test-lock-');
  const all = Array.from({ length: n }, () => new Suite(t, dir));
  await Promise.all(all.map((s) => s.printed('ready')));
  return all;
}

test('two suites share the shared phase at once', { timeout: 20_000 }, async (t) => {
  const [a, b] = await suites(t, 2);
  a!.say('shared');
  b!.say('shared');
  await Promise.all([a!.printed('holds shared'), b!.printed('holds shared')]);
  assert.ok(!a!.has('waiting') && !b!.has('waiting'), 'neither waited');
});

test("an alone phase waits for the other suite's shared phase, and keeps new ones out until it is done", { timeout: 20_000 }, async (t) => {
  const [a, b, c] = await suites(t, 3);
  a!.say('shared');
  await a!.printed('holds shared');
  b!.say('alone');
  await b!.printed(`waiting for another npm test, to run the alone phase by itself (pid ${a!.pid})`);
  // A third suite arriving now does not slip in ahead of the waiting alone phase.
  c!.say('shared');
  await c!.printed('waiting for the alone phase of another npm test');
  assert.ok(!b!.has('holds alone') && !c!.has('holds shared'));
  a!.say('release');
  await b!.printed('holds alone');
  assert.ok(!c!.has('holds shared'), 'the shared phase waits while the alone phase runs');
  b!.say('release');
  await c!.printed('holds shared');
  assert.ok(c!.lines.some((l) => /waited \d+ s for the alone phase/.test(l)), 'it says how long it waited');
});

test('a suite killed while holding the alone phase does not block the next one', { timeout: 20_000 }, async (t) => {
  const [a, b] = await suites(t, 2);
  a!.say('alone');
  await a!.printed('holds alone');
  b!.say('shared');
  await b!.printed(`(pid ${a!.pid})`);
  await a!.kill();
  await b!.printed('holds shared');
});
