import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS, Track } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL } from './helpers/loopback-relay.ts';

/**
 * The agent's side of backfill against a loopback relay: asked for a range of what it already sent
 * live, it sends exactly those frames again (same bytes, same capture times, same order, from the
 * keyframe at or before the range's start), flagged backfill, then backfill-done, while live frames
 * keep flowing unflagged.
 */
test('asked for a range, the agent sends every frame it captured in it, flagged backfill, from the keyframe before, then backfill-done', { timeout: 60_000 }, async (t) => {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-agent-backfill-')), 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: { ...DEFAULT_CAMERA_SETTINGS, width: 640, height: 480 } }));
  const agent = new AgentProcess(['run', '--config', config, '--audio', '--audio-command', 'fake-audio', '--tuning', TEST_TUNING], cleanAgentEnv(envWithFakeCamera()));
  t.after(() => agent.stop('SIGKILL'));

  const live = () => relay.frames.filter((f) => !f.header.backfill);
  const video = () => live().filter((f) => f.header.track === Track.Video);
  await relay.waitFor(() => video().length >= 150 && live().some((f) => f.header.track === Track.Audio), 30_000, '5 s of live video and some audio');
  const sent = video();
  // From mid-GOP (frame 45) to a keyframe (the relay's toUs is always the first live keyframe it got).
  const fromUs = sent[45]!.header.captureTimeUs;
  const toFrame = sent.findLast((f) => f.header.keyframe && f.header.captureTimeUs > fromUs + 2_000_000)!;
  const toUs = toFrame.header.captureTimeUs;
  relay.send({ type: 'backfill', fromUs, toUs });
  const done = await relay.waitFor(() => relay.current?.texts.find((m) => m.type === 'backfill-done'), 20_000, 'backfill-done');

  const backfill = relay.frames.filter((f) => f.header.backfill);
  const startKey = sent.findLast((f) => f.header.keyframe && f.header.captureTimeUs <= fromUs)!;
  const expected = live().filter((f) => f.header.captureTimeUs >= startKey.header.captureTimeUs && f.header.captureTimeUs < toUs);
  const videoOf = (frames: typeof backfill) => frames.filter((f) => f.header.track === Track.Video);
  const audioOf = (frames: typeof backfill) => frames.filter((f) => f.header.track === Track.Audio);
  assert.equal(videoOf(backfill).length, videoOf(expected).length, 'every video frame of the range, once');
  videoOf(backfill).forEach((f, i) => {
    const e = videoOf(expected)[i]!;
    assert.equal(f.header.captureTimeUs, e.header.captureTimeUs, `video frame ${i}: capture time`);
    assert.equal(f.header.keyframe, e.header.keyframe, `video frame ${i}: keyframe flag`);
    assert.deepEqual(Buffer.from(f.payload), Buffer.from(e.payload), `video frame ${i}: bytes`);
  });
  assert.equal(backfill[0]!.header.keyframe, true, 'the run starts on the keyframe at or before fromUs');
  assert.deepEqual(audioOf(backfill).map((f) => f.header.captureTimeUs), audioOf(expected).map((f) => f.header.captureTimeUs), 'the audio of the range too');
  assert.deepEqual(done, { type: 'backfill-done', fromUs, toUs, frames: backfill.length, complete: true });
  // Live video went on meanwhile, unflagged, past the range.
  await relay.waitFor(() => video().at(-1)!.header.captureTimeUs > toUs + 1_000_000, 5_000, 'live frames after the run');
});
