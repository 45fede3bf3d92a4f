import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/browser.ts';
import { startStreamingCamera } from './helpers/camera-setup.ts';
import { decodeErrors, fetchClip, spans, waitForSpans } from './helpers/recordings.ts';
import { startRelayProcess } from './helpers/relay-process.ts';

/**
 * Retention under a tiny RECORD_MAX_BYTES: the oldest segments go first, the recordings stay near
 * the cap, what is left still plays, and the relay says so in its log and in /metrics.
 */

const MAX_BYTES = 1_500_000; // the fake camera sends ~270 kB/s: a few 2 s segments

test('a tiny RECORD_MAX_BYTES: oldest segments purged first, early purges logged and counted', async (t) => {
  const dataDir = tempDir(t, 'picam-recording-retention-');
  const relay = await startRelayProcess({ RECORD_DEFAULT: 'continuous', DATA_DIR: dataDir, RECORD_MAX_BYTES: String(MAX_BYTES), RECORD_SEGMENT_SECONDS: '2' });
  t.after(() => relay.stop('SIGKILL'));
  const camera = await startStreamingCamera(t, relay, relay.adminToken, { name: 'drive', audio: false });
  const first = await waitForSpans(relay, camera.id, (s) => s.length === 1 && s[0]!.end - s[0]!.start >= 3000, 30_000, '3 s recorded');
  const firstStart = first[0]!.start;

  const deadline = Date.now() + 60_000;
  while (((await relay.metric('picam_recording_purged_segments_total', { reason: 'space' })) ?? 0) < 3) {
    assert.ok(Date.now() < deadline, `three segments purged for space within a minute:\n${relay.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.match(relay.output(), /disk limit reached, oldest recordings deleted before RECORD_RETAIN_DAYS/);
  assert.equal(await relay.metric('picam_recording_purged_segments_total', { reason: 'age' }), undefined, 'nothing was old enough to go by age');

  // Oldest first: the recording now starts later, and what is left is one span up to now.
  const left = await spans(relay, camera.id);
  assert.equal(left.length, 1, JSON.stringify(left));
  assert.ok(left[0]!.start > firstStart + 3000, `the oldest seconds are gone (${left[0]!.start - firstStart} ms)`);
  const files = readdirSync(join(dataDir, 'recordings', camera.id)).map((f) => statSync(join(dataDir, 'recordings', camera.id, f)).size);
  const onDisk = files.reduce((a, b) => a + b, 0);
  // The cap, plus the segment being written (not yet purgeable) and the one just closed.
  assert.ok(onDisk <= MAX_BYTES + 1_600_000, `${onDisk} bytes on disk in ${files.length} files`);

  // What is left plays.
  const res = await fetchClip(relay, camera.id, left[0]!.start, left[0]!.start + 2000);
  assert.equal(res.status, 200);
  const file = join(dataDir, 'left.mp4');
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  assert.equal(await decodeErrors(file), '');

  // A deleted camera's recordings go with it: index and files.
  assert.equal((await relay.api('DELETE', `/api/cameras/${camera.id}`, undefined, relay.adminToken)).status, 204);
  const gone = Date.now() + 10_000;
  while (existsSync(join(dataDir, 'recordings', camera.id))) {
    assert.ok(Date.now() < gone, 'the camera\'s recordings directory is removed');
    await new Promise((r) => setTimeout(r, 100));
  }
});
