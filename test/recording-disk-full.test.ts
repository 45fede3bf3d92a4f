import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { startStreamingCamera } from './helpers/camera-setup.ts';
import { spans, waitForSpans } from './helpers/recordings.ts';
import { startRelayProcess } from './helpers/relay-process.ts';
import { fillDisk, mountTinyDisk } from './helpers/tiny-disk.ts';

/**
 * RECORDINGS_DIR on a disk that fills up while the relay records: the relay stays up (live video,
 * the API), counts the failed writes without flooding its log, and records again once there is
 * space. A tiny tmpfs stands in for the disk (root with CAP_SYS_ADMIN, as on CI); where mounting is
 * not permitted the test is skipped loudly.
 */

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('the recordings disk fills up: the relay stays up, says so once, and records again when space is back', async (t) => {
  const dir = mountTinyDisk(t, 32 * 1024, 'recording on a full disk');
  if (!dir) return;
  // A byte cap far above the disk: retention's "10 % free" rule would otherwise delete the earlier
  // recording to make room (test/recording-retention.test.ts covers purging); here the disk is
  // full of something else, and writes must fail without harm.
  const relay = await startRelayProcess({ RECORD_DEFAULT: 'continuous', RECORDINGS_DIR: dir, RECORD_MAX_BYTES: String(1e12) });
  t.after(() => relay.stop('SIGKILL'));
  const camera = await startStreamingCamera(t, relay, relay.adminToken, { name: 'shed', audio: false });
  await waitForSpans(relay, camera.id, (s) => s.length === 1 && s[0]!.end - s[0]!.start >= 2000, 30_000, '2 s recorded');

  const filler = fillDisk(dir);
  await until('a failed write to be counted', 20_000, async () => ((await relay.metric('picam_recording_write_errors_total')) ?? 0) >= 1);
  const framesAtFull = (await relay.metric('picam_frames_in_total', { camera: camera.id, track: 'video' })) ?? 0;
  // Five more seconds of the camera (a new segment tried at each keyframe, each failing).
  await until('5 s more of the camera', 20_000, async () => ((await relay.metric('picam_frames_in_total', { camera: camera.id, track: 'video' })) ?? 0) >= framesAtFull + 150);
  assert.equal(relay.child.exitCode, null, 'the relay is still running');
  assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
  const listed = await spans(relay, camera.id);
  assert.equal(listed.length, 1, 'the listing works and holds what was recorded before');
  const failures = relay.output().match(/segment write failed/g)?.length ?? 0;
  assert.ok(failures >= 1 && failures <= 2, `the failure is logged, not once per segment tried (${failures} lines)`);

  unlinkSync(filler);
  const freedAt = Date.now();
  const after = await waitForSpans(relay, camera.id, (s) => (s.at(-1)?.end ?? 0) >= freedAt + 2000, 30_000, 'recording again after space is freed');
  assert.ok(after.length >= 2, `a hole where the disk was full, then recording again: ${JSON.stringify(after)}`);
});
