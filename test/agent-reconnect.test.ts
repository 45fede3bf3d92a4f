import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL } from './helpers/loopback-relay.ts';

async function startAgent(t: TestContext, tuning = TEST_TUNING): Promise<{ relay: LoopbackRelay; agent: AgentProcess }> {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-agent-reconnect-')), 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  const agent = new AgentProcess(['run', '--config', config, '--tuning', tuning], cleanAgentEnv(envWithFakeCamera()));
  t.after(() => agent.stop('SIGKILL'));
  return { relay, agent };
}

test('relay down for 10 s: the agent reconnects by itself, frames resume at a keyframe, memory stays flat', async (t) => {
  const { relay, agent } = await startAgent(t);
  await relay.waitFor(() => relay.frames.length >= 60, 30_000, 'streaming');
  const rssBefore = agent.rssKiB();

  await relay.stop();
  // The outage itself: the agent keeps capturing (and dropping) for 10 s against a closed port.
  await delay(10_000);
  const rssDuring = agent.rssKiB();
  await relay.restart();

  const second = await relay.waitFor(() => relay.connections[1], 5_000, 'a new connection within the reconnect cap');
  await relay.waitFor(() => second.frames.length >= 60, 10_000, 'frames on the new connection');
  const firstMessage = second.sequence[0];
  assert.ok(firstMessage?.kind === 'text' && firstMessage.message.type === 'hello', 'hello first again');
  assert.equal(second.frames[0]?.header.keyframe, true, 'the new connection starts at a keyframe');
  // Sequence numbers carry on per track, across connections.
  const last = relay.connections[0]!.frames.at(-1)!.header.sequence;
  assert.ok(second.frames[0]!.header.sequence > last);

  // The camera ran through the outage: never stopped, never restarted.
  assert.ok(!agent.logs.some((r) => r.msg === 'camera stopped' || r.msg === 'restarting the camera'));
  const stats = await relay.waitFor(() => second.texts.find((m) => m.type === 'stats' && (m.framesDropped as number) > 200), 5_000, 'stats');
  assert.equal(stats.cameraRestarts, 0);
  assert.equal(stats.camera, 'running');

  // No backlog kept while disconnected: ~300 frames (~2.5 MB) of video were dropped, not queued.
  const rssAfter = agent.rssKiB();
  if (!Number.isNaN(rssBefore)) {
    assert.ok(rssDuring - rssBefore < 20_000, `RSS grew ${rssDuring - rssBefore} KiB during the outage`);
    assert.ok(rssAfter - rssBefore < 25_000, `RSS grew ${rssAfter - rssBefore} KiB overall`);
  }
  // Reconnect attempts during the outage were spaced by the backoff (cap 1 s here), not a hot loop.
  const retries = agent.logs.filter((r) => r.msg === 'cannot reach the relay, retrying');
  assert.ok(retries.length >= 5 && retries.length <= 25, `${retries.length} attempts in 10 s`);
});

test('close 4009 (replaced by a newer connection): a clear warning and a long back-off, no hot loop', async (t) => {
  const { relay, agent } = await startAgent(t);
  await relay.waitFor(() => relay.frames.length >= 5, 30_000, 'streaming');
  relay.closeCurrent(4009, 'replaced by a newer connection');
  const warning = await agent.waitForLog((r) => r.code === 4009, 5_000, 'the 4009 warning');
  assert.equal(warning.level, 40);
  assert.match(String(warning.msg), /another agent/);
  assert.equal(warning.delayMs, 60_000);
  // Over a window where the ordinary backoff (capped at 1 s here) would have retried several
  // times, nothing: the absence of events is the assertion.
  const attempts = relay.attempts.length;
  await delay(3_000);
  assert.equal(relay.attempts.length, attempts, 'no reconnect attempt within 3 s');
  // The camera keeps running meanwhile.
  assert.ok(!agent.logs.some((r) => r.msg === 'camera stopped'));
});

test('close 4001 and HTTP 401 (credential revoked): tells the user to re-enroll, retries rarely', async (t) => {
  // The short revoked delay makes the second, HTTP 401, round observable; the first must still wait it.
  const { relay, agent } = await startAgent(t, `${TEST_TUNING},revokedDelayMs=2500`);
  await relay.waitFor(() => relay.frames.length >= 5, 30_000, 'streaming');
  relay.credential = 'rotated-credential';
  relay.closeCurrent(4001, 'credential revoked');
  const error = await agent.waitForLog((r) => r.code === 4001, 5_000, 'the 4001 error');
  assert.equal(error.level, 50);
  assert.match(String(error.msg), /picam-agent enroll/);
  const closedAt = performance.now();

  // The retry comes after the revoked delay, is refused at the upgrade (401), and backs off again.
  await relay.waitFor(() => relay.attempts.find((a) => a.status === 401), 10_000, 'the retry');
  const retryAfterMs = relay.attempts.find((a) => a.status === 401)!.at - closedAt;
  assert.ok(retryAfterMs >= 2_000, `retried after ${retryAfterMs.toFixed(0)} ms`);
  const second = await agent.waitForLog((r) => r.status === 401, 5_000, 'the 401 error');
  assert.equal(second.delayMs, 2500);
  const count = relay.attempts.length;
  await delay(2_000);
  assert.equal(relay.attempts.length, count, 'no hot loop after a 401');
});

test('the default revoked delay is minutes', async (t) => {
  const { relay, agent } = await startAgent(t);
  await relay.waitFor(() => relay.frames.length >= 1, 30_000, 'streaming');
  relay.closeCurrent(4001, 'credential revoked');
  const error = await agent.waitForLog((r) => r.code === 4001, 5_000, 'the 4001 error');
  assert.equal(error.delayMs, 300_000);
});
