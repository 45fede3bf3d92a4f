/**
 * The demo camera of `npm start` and `npm run cluster`: the real agent (`picam-agent`) enrolled the
 * way a Pi is, streaming a bundled clip through the fake `rpicam-vid` in test/fake-camera (the only
 * stand-in). Its config, with the device credential, lives in the data directory like a Pi's
 * /etc/picam-agent/config.json, so later starts reuse the same camera.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FAKE_CAMERA_DIR = join(ROOT, 'test', 'fake-camera');
const AGENT_CLI = join(ROOT, 'edge-agent', 'src', 'cli.ts');
export const DEMO_CAMERA_NAME = 'Demo camera';

/** What the demo needs from the relay (one process, or the balancer in front of the nodes). */
export interface DemoCameraRelay {
  /** where the agent connects */
  url: string;
  /** whether the camera of an earlier enrollment still exists (deleted in the UI since: enroll a fresh one) */
  enrolled(previous: { cameraId: string; credential: string }): boolean | Promise<boolean>;
  /** creates the demo camera; its one-time enrollment token */
  provision(name: string): Promise<string>;
}

/** Enrolls the demo agent once (config in `dataDir`/demo-agent) and runs it with the fake camera first on PATH. */
export async function startDemoAgent(relay: DemoCameraRelay, dataDir: string): Promise<ChildProcess> {
  const configPath = join(dataDir, 'demo-agent', 'config.json');
  const env = { ...process.env, PATH: `${FAKE_CAMERA_DIR}:${process.env.PATH ?? ''}`, LOG_LEVEL: process.env.PICAM_DEMO_AGENT_LOG_LEVEL ?? 'warn' };
  if (!(await demoAgentEnrolled(configPath, relay))) {
    const token = await relay.provision(DEMO_CAMERA_NAME);
    await runToEnd(spawnAgent(['enroll', '--relay', relay.url, '--token', token, '--config', configPath], env));
  }
  const agent = spawnAgent(['run', '--config', configPath, '--relay', relay.url], env);
  agent.on('exit', (code, signal) => {
    if (!agent.killed && signal !== 'SIGTERM') process.stderr.write(`demo agent exited (${code ?? signal}); the relay keeps running\n`);
  });
  return agent;
}

async function demoAgentEnrolled(configPath: string, relay: DemoCameraRelay): Promise<boolean> {
  if (!existsSync(configPath)) return false;
  let previous: { cameraId?: unknown; credential?: unknown };
  try {
    previous = JSON.parse(readFileSync(configPath, 'utf8')) as typeof previous;
  } catch {
    return false;
  }
  const { cameraId, credential } = previous;
  if (typeof cameraId !== 'string' || typeof credential !== 'string') return false;
  return relay.enrolled({ cameraId, credential });
}

function spawnAgent(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', AGENT_CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
}

function runToEnd(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`picam-agent enroll exited with ${code}`))));
  });
}
