import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL } from './helpers/loopback-relay.ts';

/** Runs a one-shot subcommand to completion. */
async function cli(args: string[], env: NodeJS.ProcessEnv = cleanAgentEnv(envWithFakeCamera())) {
  const agent = new AgentProcess(args, env);
  const { code } = await agent.exited;
  // stdout lines were parsed as log records; plain text lands in msg.
  return { code, stdout: agent.logs.map((r) => r.msg).join('\n'), stderr: agent.stderr.join('\n') };
}

test('enroll: stores the credential in a 0600 file under a 0700 directory, never prints it', async (t) => {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const dir = join(mkdtempSync(join(tmpdir(), 'picam-enroll-')), 'picam-agent');
  const config = join(dir, 'config.json');
  const result = await cli(['enroll', '--relay', `${relay.url}/`, '--token', 'good-token', '--config', config]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /Enrolled as camera "Garden" \(cam-1\)/);
  assert.ok(!result.stdout.includes(TEST_CREDENTIAL) && !result.stderr.includes(TEST_CREDENTIAL));
  assert.deepEqual(relay.enrollRequests, [{ token: 'good-token' }]);
  assert.equal(statSync(config).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.deepEqual(JSON.parse(readFileSync(config, 'utf8')), {
    relay: relay.url,
    cameraId: 'cam-1',
    credential: TEST_CREDENTIAL,
    settings: DEFAULT_CAMERA_SETTINGS,
  });
});

test('enroll: one clear line for a used token, an expired token, a refused connection, a malformed URL', async (t) => {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-enroll-')), 'config.json');
  const cases: Array<[string[], RegExp]> = [
    [['--relay', relay.url, '--token', 'used-token'], /token unknown or already used/],
    [['--relay', relay.url, '--token', 'expired-token'], /token expired/],
    [['--relay', 'relay.example.com', '--token', 'good-token'], /invalid relay URL "relay\.example\.com"/],
    [['--relay', 'ftp://relay.example.com', '--token', 'good-token'], /use http:\/\/ or https:\/\//],
  ];
  for (const [args, message] of cases) {
    const result = await cli(['enroll', ...args, '--config', config]);
    assert.equal(result.code, 1, args.join(' '));
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line, no stack: ${result.stderr}`);
    assert.ok(!existsSync(config), 'no config written');
  }
  const port = relay.port;
  await relay.stop();
  const refused = await cli(['enroll', '--relay', `http://127.0.0.1:${port}`, '--token', 'good-token', '--config', config]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cannot reach the relay at http:\/\/127\.0\.0\.1:\d+: connection refused/);
  const unknownHost = await cli(['enroll', '--relay', 'http://picam-relay.invalid', '--token', 'good-token', '--config', config]);
  assert.equal(unknownHost.code, 1);
  assert.match(unknownHost.stderr, /host name not found|timed out/);
});

test('check: a readable report, ✓ on a healthy setup', async (t) => {
  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(mkdtempSync(join(tmpdir(), 'picam-check-')), 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  const ok = await cli(['check', '--config', config]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /✓ camera command: .*fake-camera\/rpicam-vid/);
  assert.match(ok.stdout, /✓ camera software: rpicam-apps build: v1\.5\.0/);
  assert.match(ok.stdout, /✓ camera 0: imx708/);
  assert.match(ok.stdout, /✓ relay reachable/);
  assert.match(ok.stdout, /✓ device credential accepted/);
  assert.match(ok.stdout, /All checks passed\./);
  assert.ok(!ok.stdout.includes(TEST_CREDENTIAL));

  // No camera attached.
  const none = await cli(['check', '--config', config], cleanAgentEnv(envWithFakeCamera({ FAKE_CAMERA_NO_CAMERA: '1' })));
  assert.equal(none.code, 1);
  assert.match(none.stdout, /✗ no camera detected \(No cameras available!\)/);
  assert.match(none.stdout, /✓ relay reachable/);
  assert.match(none.stdout, /1 problem found\./);

  // Revoked credential.
  relay.credential = 'rotated';
  const revoked = await cli(['check', '--config', config]);
  assert.equal(revoked.code, 1);
  assert.match(revoked.stdout, /✗ device credential rejected \(HTTP 401\)/);
});

test('check: no camera binary, no config, relay down', async (t) => {
  const relay = await LoopbackRelay.start();
  const port = relay.port;
  await relay.close();
  t.after(() => relay.close());
  const dir = mkdtempSync(join(tmpdir(), 'picam-check-'));
  const missing = await cli(['check', '--config', join(dir, 'none.json'), '--camera-command', join(dir, 'rpicam-vid')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, /✗ camera command .* not found or not executable/);
  assert.match(missing.stdout, /✗ no relay or device credential: enroll first/);

  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ relay: `http://127.0.0.1:${port}`, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  const down = await cli(['check', '--config', config]);
  assert.equal(down.code, 1);
  assert.match(down.stdout, /✗ cannot reach the relay at .*: connection refused/);
});
