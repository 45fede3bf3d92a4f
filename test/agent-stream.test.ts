import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessUnitSplitter, DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL } from './helpers/loopback-relay.ts';

// The fake camera streams the clip nearest the requested size: 1280x720 -> this one.
const clip = readFileSync(new URL('./fixtures/clips/1280x720-main.h264', import.meta.url));
const splitter = new AccessUnitSplitter();
const clipUnits = [...splitter.push(clip), ...splitter.flush()];

test('every access unit the camera writes reaches the relay as one message, in order, byte-identical', async (t) => {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const dir = mkdtempSync(join(tmpdir(), 'picam-agent-stream-'));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  const writeLog = join(dir, 'writes.log');
  const agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING], cleanAgentEnv(envWithFakeCamera({ FAKE_CAMERA_WRITE_LOG: writeLog })));
  t.after(() => agent.stop('SIGKILL'));

  // 150 frames: more than one loop of the 120-frame clip, five keyframes.
  await relay.waitFor(() => relay.frames.length >= 150, 30_000, '150 frames');
  const connection = relay.connections[0]!;
  assert.equal(connection.headers.authorization, `Bearer ${TEST_CREDENTIAL}`);

  // hello first, with the settings and the command; then frames and stats.
  const first = connection.sequence[0];
  assert.equal(first?.kind, 'text');
  assert.equal(first.kind === 'text' && first.message.type, 'hello');
  const hello = connection.texts[0]!;
  assert.deepEqual(hello.settings, DEFAULT_CAMERA_SETTINGS);
  assert.equal(hello.audio, null);
  assert.match(String(hello.cameraCommand), /rpicam-vid$/);

  // The camera's own record of what it wrote, one line per frame: "<index in clip> <loop> <epoch µs>".
  // It logs a write once the write returns, so a busy machine can run the agent and the relay on
  // the frame before the camera gets to log it: read until the log has every frame received so far.
  const frames = relay.frames.slice();
  const writes = await relay.waitFor(
    () => {
      const logged = readFileSync(writeLog, 'utf8').trim().split('\n').map((line) => line.split(' ').map(Number) as [number, number, number]);
      return logged.length >= frames.length ? logged : undefined;
    },
    5000,
    'the camera logging the frames it wrote',
  );
  assert.ok(writes.length - frames.length <= 3, `at most a few frames in flight, got ${writes.length - frames.length}`);
  const latenciesMs: number[] = [];
  let lastCapture = 0;
  frames.forEach((frame, i) => {
    const [index, , writtenUs] = writes[i]!;
    const unit = clipUnits[index]!;
    assert.equal(frame.header.sequence, i, 'per-track sequence without gaps');
    assert.equal(frame.header.track, 1);
    assert.equal(frame.header.keyframe, unit.keyframe, `keyframe flag of frame ${i}`);
    assert.equal(Buffer.compare(frame.payload, unit.data), 0, `bytes of frame ${i} (clip unit ${index})`);
    assert.ok(frame.header.captureTimeUs > lastCapture, 'capture time strictly increasing');
    lastCapture = frame.header.captureTimeUs;
    // Stamped when read: after the camera's write began, and well before the next frame.
    assert.ok(frame.header.captureTimeUs >= writtenUs - 1000, `frame ${i} stamped before it was written`);
    latenciesMs.push((performance.timeOrigin + frame.receivedAt) - writtenUs / 1000);
  });
  assert.ok(frames.filter((f) => f.header.keyframe).length >= 5);
  // Camera write -> relay receipt: the pipe-silence flush completes a frame in ~2 ms, never a
  // whole frame interval (33 ms) later.
  latenciesMs.sort((a, b) => a - b);
  const median = latenciesMs[Math.floor(latenciesMs.length / 2)]!;
  assert.ok(median < 15, `median camera-to-relay latency ${median.toFixed(1)} ms`);

  // The frames still in flight arrive too.
  await relay.waitFor(() => relay.frames.length >= writes.length, 5000, 'the frames in flight');

  // Stats flow every statsIntervalMs, reporting a running camera.
  const stats = await relay.waitFor(
    () => connection.texts.find((m) => m.type === 'stats' && m.camera === 'running' && (m.framesSent as number) > 0),
    5000,
    'stats with a running camera',
  );
  assert.equal(stats.tornFrames, 0);
  assert.equal(stats.cameraRestarts, 0);

  // SIGTERM: close 1001, camera stopped, exit 0.
  const exit = await agent.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null });
  await relay.waitFor(() => connection.closed, 5000, 'close');
  assert.equal(connection.closed?.code, 1001);
  assert.ok(agent.logs.some((r) => r.msg === 'camera stopped'));
  // The credential never appears in the logs.
  assert.ok(!agent.logs.some((r) => JSON.stringify(r).includes(TEST_CREDENTIAL)));
});
