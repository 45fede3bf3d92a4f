import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The browser latency benchmark still runs (--quick: 3 s per row, 720p) and prints its rows for the
 * product's two paths, a share link and the old page. Rows only, never a timing.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium';

test('browser latency benchmark (quick) runs and produces rows for WebCodecs, jmuxer, a share link and the old page', { timeout: 300_000 }, (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail(`Chromium not found at ${CHROMIUM}`);
    t.skip(`Chromium not found at ${CHROMIUM}: browser latency benchmark NOT RUN`);
    return;
  }
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/browser-latency/run.ts', '--quick'], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  assert.equal(result.status, 0, `run.ts --quick failed:\n${result.stderr}`);
  const rows = result.stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| figure'));
  for (const label of ['WebCodecs 720p: latency p50', 'jmuxer 720p: latency p50', 'share link 720p: first picture after page open', 'old page 720p: latency p50', 'first picture after page open']) {
    assert.ok(rows.some((r) => r.includes(label)), `no "${label}" row:\n${rows.join('\n')}`);
  }
});
