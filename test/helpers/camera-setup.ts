import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { AgentProcess, REPO_ROOT, TEST_TUNING, cleanAgentEnv } from './agent-process.ts';
import { tempDir, type RelayProcess } from './browser.ts';
import { envWithFakeCamera } from './fake-camera-path.ts';
import { jsonRequest } from './relay-process.ts';

/** The browser suites' way to talk to the relay's API and to bring a camera online as an admin would. */

const FAKE_AUDIO = join(REPO_ROOT, 'test', 'fake-camera', 'fake-audio');

/** One JSON request to the relay (Bearer token when given); the answer's status and body. */
export function api(relay: Pick<RelayProcess, 'url'>, method: string, path: string, body?: unknown, token?: string) {
  return jsonRequest(relay.url, method, path, body, token);
}

export interface StreamingCamera {
  id: string;
  agent: AgentProcess;
  /** the fake camera's log of its writes (`<index> <loop> <epoch µs>` per frame), with `writeLog` */
  writeLog?: string;
}

/**
 * A camera created and enrolled through the API, its real agent streaming the fake camera (and,
 * with `audio`, the fake microphone, waited for until its first frame); stopped when the test ends.
 */
export async function startStreamingCamera(
  t: TestContext,
  relay: Pick<RelayProcess, 'url'>,
  token: string,
  options: { name: string; audio: boolean; writeLog?: boolean },
): Promise<StreamingCamera> {
  const created = await api(relay, 'POST', '/api/cameras', { name: options.name }, token);
  assert.equal(created.status, 201, `create camera: ${JSON.stringify(created.json)}`);
  const enrolled = await api(relay, 'POST', '/api/enroll', { token: created.json.enrollment.token });
  assert.equal(enrolled.status, 200, `enroll: ${JSON.stringify(enrolled.json)}`);
  const id = created.json.camera.id as string;
  const dir = tempDir(t, 'picam-camera-');
  const config = join(dir, 'config.json');
  const writeLog = options.writeLog ? join(dir, 'writes.log') : undefined;
  writeFileSync(config, JSON.stringify({ relay: relay.url, cameraId: id, credential: enrolled.json.credential, settings: DEFAULT_CAMERA_SETTINGS }));
  const env = cleanAgentEnv(envWithFakeCamera(writeLog ? { FAKE_CAMERA_WRITE_LOG: writeLog } : {}));
  delete env.PICAM_AUDIO_COMMAND;
  const args = ['run', '--config', config, '--tuning', TEST_TUNING];
  if (options.audio) args.push('--audio', '--audio-command', FAKE_AUDIO);
  const agent = new AgentProcess(args, env);
  t.after(() => agent.stop('SIGKILL'));
  if (options.audio) await agent.waitForLog((r) => r.msg === 'audio format', 20_000, 'the first audio frame');
  return { id, agent, writeLog };
}
