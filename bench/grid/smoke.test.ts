import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The grid soak still runs (--quick, a quarter of a minute of events) and prints its rows: the
 * heap, the live decoders, the sockets and what the events stand for. Rows only, never a figure.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.PICAM_CHROMIUM ?? '/usr/bin/chromium';

test('grid soak (quick) runs and produces rows for the heap, the decoders and the simulated hours', { timeout: 240_000 }, (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) assert.fail(`Chromium not found at ${CHROMIUM}`);
    t.skip(`Chromium not found at ${CHROMIUM}: grid soak NOT RUN`);
    return;
  }
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bench/grid/soak-run.ts', '--quick', '--minutes', '0.25'], { cwd: ROOT, encoding: 'utf8', timeout: 200_000 });
  assert.equal(result.status, 0, `soak-run.ts --quick failed:\n${result.stderr}`);
  const rows = result.stdout.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| figure'));
  for (const label of ['JS heap after GC', 'live VideoDecoders', 'open WebSockets', 'DOM nodes', 'hours of a user']) {
    assert.ok(rows.some((r) => r.includes(label)), `no "${label}" row:\n${rows.join('\n')}`);
  }
});
