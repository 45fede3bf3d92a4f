import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS, describeAccessUnit, parseSps, type CameraSettings } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL, type RecordedFrame } from './helpers/loopback-relay.ts';

async function startAgent(t: TestContext, settings: CameraSettings, extraArgs: string[] = []) {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-agent-settings-')), 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings }), { mode: 0o600 });
  const agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING, ...extraArgs], cleanAgentEnv(envWithFakeCamera()));
  t.after(() => agent.stop('SIGKILL'));
  return { relay, agent, config };
}

function size(frame: RecordedFrame): string | null {
  const sps = describeAccessUnit(frame.payload).sps;
  if (!sps) return null;
  const info = parseSps(sps);
  return `${info.width}x${info.height}`;
}

test('settings from the relay restart the camera with new flags and are saved to the config', async (t) => {
  const { relay, agent, config } = await startAgent(t, DEFAULT_CAMERA_SETTINGS);
  await relay.waitFor(() => relay.frames.find((f) => f.header.keyframe), 30_000, 'a keyframe');
  assert.equal(size(relay.frames[0]!), '1280x720');

  const next = { ...DEFAULT_CAMERA_SETTINGS, width: 640, height: 480, bitrate: 1_000_000 };
  relay.send({ type: 'settings', settings: next });
  // The fake camera picks its clip by --width/--height: the new SPS proves the new argv.
  const resized = await relay.waitFor(() => relay.frames.find((f) => f.header.keyframe && size(f) === '640x480'), 15_000, 'a 640x480 keyframe');
  const index = relay.frames.indexOf(resized);
  assert.ok(relay.frames.slice(index).every((f) => size(f) === null || size(f) === '640x480'), 'no old frames after the switch');
  const start = agent.logs.findLast((r) => r.msg === 'starting the camera');
  const args = start?.args as string[];
  assert.equal(args[args.indexOf('--width') + 1], '640');
  assert.equal(args[args.indexOf('--bitrate') + 1], '1000000');
  // Same connection: settings never cost the uplink. A fresh hello announces the new format
  // just before the first frame in it.
  assert.equal(relay.connections.length, 1);
  const seq = relay.connections[0]!.sequence;
  const at = seq.findIndex((e) => e.kind === 'frame' && e.frame === resized);
  const before = seq[at - 1];
  assert.ok(before?.kind === 'text' && before.message.type === 'hello', 'hello right before the resized keyframe');
  assert.deepEqual((before.message as { video: unknown }).video, { codec: 'avc1.42c01e', width: 640, height: 480, framerate: 30 });
  assert.equal((before.message as { settings: { width: number } }).settings.width, 640);

  const saved = JSON.parse(readFileSync(config, 'utf8')) as { settings: CameraSettings; credential: string };
  assert.deepEqual(saved.settings, next);
  assert.equal(saved.credential, TEST_CREDENTIAL);
  assert.equal(statSync(config).mode & 0o777, 0o600);

  // The same settings again change nothing; invalid ones are ignored with a warning.
  const restarts = agent.logs.filter((r) => r.msg === 'restarting the camera').length;
  relay.send({ type: 'settings', settings: next });
  relay.send({ type: 'settings', settings: { ...next, width: 5 } });
  await agent.waitForLog((r) => r.msg === 'ignoring a message from the relay', 5_000, 'the invalid settings warning');
  assert.equal(agent.logs.filter((r) => r.msg === 'restarting the camera').length, restarts);
});

test('flags given on the command line win over the relay\'s settings', async (t) => {
  const { relay, agent } = await startAgent(t, DEFAULT_CAMERA_SETTINGS, ['--width', '1920', '--height', '1080']);
  await relay.waitFor(() => relay.frames.find((f) => f.header.keyframe), 30_000, 'a keyframe');
  assert.equal(size(relay.frames[0]!), '1920x1080');
  relay.send({ type: 'settings', settings: { ...DEFAULT_CAMERA_SETTINGS, width: 640, height: 480 } });
  const warning = await agent.waitForLog((r) => r.msg === 'command-line flags override these settings from the relay', 5_000, 'override warning');
  assert.deepEqual(warning.overridden, ['width', 'height']);
});

test('on demand: the camera runs only while someone watches, and stops after the grace period', async (t) => {
  const { relay, agent } = await startAgent(t, { ...DEFAULT_CAMERA_SETTINGS, onDemand: true });
  const connection = await relay.waitFor(() => relay.current, 15_000, 'the connection');
  await relay.waitFor(() => connection.texts.find((m) => m.type === 'stats' && m.camera === 'idle'), 5_000, 'idle stats');
  assert.equal(connection.frames.length, 0, 'no frames without viewers');
  assert.ok(!agent.logs.some((r) => r.msg === 'starting the camera'));

  relay.send({ type: 'demand', viewers: 2 });
  await relay.waitFor(() => connection.frames.length >= 10, 15_000, 'frames on demand');
  assert.equal(connection.frames[0]?.header.keyframe, true);

  relay.send({ type: 'demand', viewers: 0 });
  const noViewersAt = performance.now();
  await agent.waitForLog((r) => r.msg === 'camera stopped', 10_000, 'the camera stopping');
  const stoppedAfterMs = performance.now() - noViewersAt;
  assert.ok(stoppedAfterMs >= 1400, `stopped after ${stoppedAfterMs.toFixed(0)} ms, grace is 1500 ms`);
  await relay.waitFor(() => connection.texts.findLast((m) => m.type === 'stats')?.camera === 'idle', 5_000, 'idle again');

  // A viewer coming back within the grace period keeps the camera running.
  relay.send({ type: 'demand', viewers: 1 });
  const count = connection.frames.length;
  await relay.waitFor(() => connection.frames.length >= count + 5, 15_000, 'frames again');
  relay.send({ type: 'demand', viewers: 0 });
  relay.send({ type: 'demand', viewers: 1 });
  const more = connection.frames.length;
  await relay.waitFor(() => connection.frames.length >= more + 60, 15_000, 'frames beyond the grace period');
  assert.equal(agent.logs.filter((r) => r.msg === 'camera stopped').length, 1);
});
