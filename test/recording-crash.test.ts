import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/browser.ts';
import { startStreamingCamera } from './helpers/camera-setup.ts';
import { AccessUnitSplitter } from '@picam/protocol';
import { clipFrameIndexes, consecutiveInLoop, decodeErrors, fetchClip, probeVideoFrames, spans, waitForSpans } from './helpers/recordings.ts';
import { startRelayProcess } from './helpers/relay-process.ts';

/**
 * A power cut, as near as a test gets: the relay is killed with SIGKILL while it records, a torn
 * fragment is left at the end of the file it was writing, and it starts again on the same data.
 * At most about a second is lost, the torn tail is cut off, every earlier frame plays, the listing works.
 */

// The fake camera streams this clip, looped, for the default 1280x720.
const splitter = new AccessUnitSplitter();
const CLIP_UNITS = [...splitter.push(readFileSync(new URL('./fixtures/clips/1280x720-main.h264', import.meta.url))), ...splitter.flush()].map((u) => u.data);

test('kill -9 while recording: after a restart at most ~1 s is lost and the recording still plays', async (t) => {
  const dataDir = tempDir(t, 'picam-recording-crash-');
  const env = { RECORD_DEFAULT: 'continuous', DATA_DIR: dataDir };
  const relay = await startRelayProcess(env);
  t.after(() => relay.stop('SIGKILL'));
  const camera = await startStreamingCamera(t, relay, relay.adminToken, { name: 'porch', audio: false });
  await waitForSpans(relay, camera.id, (s) => s.length === 1 && s[0]!.end - s[0]!.start >= 6000, 30_000, '6 s recorded');

  // The agent is frozen (its socket stays open, so nothing closes cleanly) and the frames in flight
  // arrive; the relay's own clock says when the last one came. Then the power cut.
  process.kill(camera.agent.child.pid!, 'SIGSTOP');
  const framesIn = () => relay.metric('picam_frames_in_total', { camera: camera.id, track: 'video' });
  let before = await framesIn();
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await framesIn();
    if (now === before) break;
    before = now;
  }
  const status = await relay.api('GET', `/api/cameras/${camera.id}`, undefined, relay.adminToken);
  const lastReceived = status.json.camera.status.lastFrameAt as number;
  await relay.stop('SIGKILL');
  await camera.agent.stop('SIGKILL');

  // A torn fragment at the end of the newest segment: a moof header promising more than is there.
  const cameraDir = join(dataDir, 'recordings', camera.id);
  const newest = readdirSync(cameraDir)
    .map((f) => join(cameraDir, f))
    .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs)
    .at(-1)!;
  const sizeBefore = statSync(newest).size;
  const torn = Buffer.alloc(300);
  torn.writeUInt32BE(50_000, 0);
  torn.write('moof', 4, 'latin1');
  appendFileSync(newest, torn);

  const again = await startRelayProcess(env);
  t.after(() => again.stop('SIGKILL'));
  assert.ok(statSync(newest).size <= sizeBefore, 'the torn tail is cut off at start');
  const after = await spans(again, camera.id, again.adminToken, lastReceived - 3600_000, lastReceived + 60_000);
  assert.equal(after.length, 1, `one span: ${JSON.stringify(after)}`);
  // Its capture time is at or before its arrival: this counts the way from agent to relay as lost too.
  const lost = lastReceived - after[0]!.end;
  assert.ok(lost <= 1200, `at most ~1 s lost: ${lost} ms between the last frame received and the end of the recording`);

  // The whole recording plays.
  const span = after[0]!;
  const all = await fetchClip(again, camera.id, span.start, span.end, {}, again.adminToken);
  assert.equal(all.status, 200);
  const allFile = join(dataDir, 'all.mp4');
  writeFileSync(allFile, Buffer.from(await all.arrayBuffer()));
  assert.equal(await decodeErrors(allFile), '', 'ffmpeg decodes it all without an error');
  assert.ok((await probeVideoFrames(allFile)).length >= 150, 'the recording is all there');
  // Every frame the camera wrote, in order, none twice, to the end of what was kept: each packet
  // found by its bytes among the fake camera's looped clip.
  const indexes = await clipFrameIndexes(allFile, CLIP_UNITS);
  assert.equal(consecutiveInLoop(indexes, CLIP_UNITS.length), undefined);
  // And the segment file itself, as left on disk, plays too.
  assert.equal(await decodeErrors(newest), '', 'the repaired segment file decodes on its own');
});
