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
  const camera = await startStreamingCamera(t, relay, relay.adminToken, { name: 'porch', audio: false, writeLog: true });
  await waitForSpans(relay, camera.id, (s) => s.length === 1 && s[0]!.end - s[0]!.start >= 6000, 30_000, '6 s recorded');

  const killedAt = Date.now();
  await relay.stop('SIGKILL');
  // Nothing more reaches any relay: what the camera wrote until the kill is what could be recorded.
  await camera.agent.stop('SIGKILL');
  const writes = readFileSync(camera.writeLog!, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[2]) / 1000);
  const lastSent = Math.max(...writes.filter((w) => w <= killedAt));

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
  const after = await spans(again, camera.id, again.adminToken, killedAt - 3600_000, killedAt + 60_000);
  assert.equal(after.length, 1, `one span: ${JSON.stringify(after)}`);
  const lost = lastSent - after[0]!.end;
  assert.ok(lost <= 1100, `at most ~1 s lost: ${lost} ms between the last frame sent and the end of the recording`);

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
