import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL, type RecordedFrame } from './helpers/loopback-relay.ts';

async function startAgent(t: TestContext, fakeEnv: NodeJS.ProcessEnv): Promise<{ relay: LoopbackRelay; agent: AgentProcess }> {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-agent-recovery-')), 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  const agent = new AgentProcess(['run', '--config', config, '--tuning', TEST_TUNING], cleanAgentEnv(envWithFakeCamera(fakeEnv)));
  t.after(() => agent.stop('SIGKILL'));
  return { relay, agent };
}

/** Frames arrive in runs of N per camera process: each run starts with a keyframe. */
function assertRuns(frames: RecordedFrame[], perRun: number, runs: number): void {
  for (let run = 0; run < runs; run++) {
    const first = frames[run * perRun];
    assert.ok(first, `run ${run} present`);
    assert.equal(first.header.keyframe, true, `run ${run} starts with a keyframe`);
  }
  // One connection, one sequence: the camera restarts never show as gaps or resets on the wire.
  frames.forEach((f, i) => assert.equal(f.header.sequence, i));
}

test('a camera that dies is restarted by the agent and frames resume', async (t) => {
  // Every camera process writes 20 frames, then exits with an error like a failed dequeue.
  const { relay, agent } = await startAgent(t, { FAKE_CAMERA_DIE_AFTER: '20' });
  await relay.waitFor(() => relay.frames.length >= 50, 30_000, 'frames from three camera runs');
  assertRuns(relay.frames, 20, 3);
  const restarted = agent.logs.find((r) => typeof r.msg === 'string' && r.msg.includes('camera exited'));
  assert.ok(restarted, 'the exit is logged');
  assert.match(String(restarted.msg), /failed to dequeue buffer/, 'with the camera\'s last stderr line');
  const stats = await relay.waitFor(
    () => relay.current?.texts.find((m) => m.type === 'stats' && (m.cameraRestarts as number) >= 2),
    10_000,
    'stats counting the restarts',
  );
  assert.match(String(stats.lastError), /camera exited/);
  // The connection never dropped: the camera and the uplink are independent.
  assert.equal(relay.connections.length, 1);
});

test('a camera that stalls is killed and restarted, and frames resume', async (t) => {
  // Every camera process writes 15 frames, then hangs without exiting.
  const { relay, agent } = await startAgent(t, { FAKE_CAMERA_STALL_AFTER: '15' });
  await relay.waitFor(() => relay.frames.length >= 15, 20_000, 'the first run');
  await relay.waitFor(() => relay.frames.length >= 31, 20_000, 'frames after the restart');
  const gapMs = relay.frames[15]!.receivedAt - relay.frames[14]!.receivedAt;
  // Detected after the stall timeout (1.5 s in tests), not before, and restarted soon after.
  assert.ok(gapMs >= 1400, `restart after the stall timeout, gap ${gapMs.toFixed(0)} ms`);
  assertRuns(relay.frames, 15, 2);
  assert.ok(agent.logs.some((r) => r.msg === 'camera stalled, restarting it'));
});

test('no camera binary at all: status failed, retried with backoff, the agent keeps running', async (t) => {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-agent-recovery-')), 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  const agent = new AgentProcess(
    ['run', '--config', config, '--tuning', TEST_TUNING, '--camera-command', '/nonexistent/rpicam-vid'],
    cleanAgentEnv(envWithFakeCamera()),
  );
  t.after(() => agent.stop('SIGKILL'));
  const stats = await relay.waitFor(() => relay.current?.texts.find((m) => m.type === 'stats' && m.camera === 'failed'), 10_000, 'failed status');
  assert.match(String(stats.lastError), /no camera command found/);
  const exit = await agent.stop('SIGTERM');
  assert.equal(exit.code, 0);
});
