import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * A small disk for the full-disk suites: a tmpfs of `sizeKiB` mounted on a new directory (needs root
 * with CAP_SYS_ADMIN, as on CI), unmounted when the test ends. As root a read-only directory would
 * not stop the writes, so there is no honest substitute: where mounting is not permitted the test is
 * skipped loudly, naming `what` was not tested, and null is returned.
 */
export function mountTinyDisk(t: TestContext, sizeKiB: number, what: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'picam-tiny-disk-'));
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (result.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = `cannot mount a tmpfs here (${(result.stderr || result.error?.message || '').trim()}): ${what} not tested`;
    process.stderr.write(`\n*** SKIPPED: ${why} ***\n`);
    t.skip(why);
    return null;
  }
  t.after(() => {
    spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes zeros into `dir` until ENOSPC; returns the filler's path (unlink it to free the space). */
export function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  return path;
}
