import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { REPO_ROOT, TEST_TUNING, cleanAgentEnv } from './helpers/agent-process.ts';
import { envWithFakeCamera } from './helpers/fake-camera-path.ts';
import { LoopbackRelay, TEST_CREDENTIAL } from './helpers/loopback-relay.ts';

test('the single-file bundle runs on plain Node, away from the repository and its node_modules', async (t) => {
  execFileSync(process.execPath, ['edge-agent/build.mjs'], { cwd: REPO_ROOT, stdio: 'pipe' });
  const dir = mkdtempSync(join(tmpdir(), 'picam-bundle-'));
  const bundle = join(dir, 'picam-agent.mjs');
  copyFileSync(join(REPO_ROOT, 'edge-agent/dist/picam-agent.mjs'), bundle);
  assert.ok(statSync(join(REPO_ROOT, 'edge-agent/dist/picam-agent.mjs')).mode & 0o100, 'executable');

  const help = execFileSync(process.execPath, [bundle, 'run', '--help'], { cwd: dir, encoding: 'utf8' });
  assert.match(help, /--framerate <fps>/);

  const relay = await LoopbackRelay.start();
  t.after(() => relay.close());
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: 'cam-1', credential: TEST_CREDENTIAL, settings: DEFAULT_CAMERA_SETTINGS }));
  // No tsx, no NODE_PATH, cwd outside the repository: only the bundle and Node.
  const child = spawn(process.execPath, [bundle, 'run', '--config', config, '--tuning', TEST_TUNING], {
    cwd: dir,
    env: cleanAgentEnv(envWithFakeCamera()),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  t.after(() => child.kill('SIGKILL'));
  await relay.waitFor(() => relay.frames.length >= 30, 30_000, 'frames from the bundled agent');
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  // Logs are JSON lines on stdout, written without a pino transport (no worker thread).
  const first = JSON.parse(stdout.split('\n')[0]!) as { msg: string; service: string };
  assert.equal(first.service, 'picam-agent');
});
