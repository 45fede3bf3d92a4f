/**
 * `npm start`: the whole system on its embedded defaults, for a first look.
 *   - the relay (http://localhost:8080, SQLite under ./data, an admin account),
 *   - a simulated camera: the real agent (`picam-agent`) enrolled the way a Pi is, streaming a bundled
 *     clip through the fake `rpicam-vid` in test/fake-camera (the only stand-in).
 * Environment: the relay's own (PORT, HOST, DATA_DIR, PUBLIC_URL, PICAM_ADMIN_PASSWORD, LOG_LEVEL),
 * plus PICAM_DEMO_CAMERA=0 to start the relay alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pretty from 'pino-pretty';
import { ConfigError, loadConfig } from '../relay-server/src/config.ts';
import { createLogger } from '../relay-server/src/logger.ts';
import { startRelay, type RunningRelay } from '../relay-server/src/server.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FAKE_CAMERA_DIR = join(ROOT, 'test', 'fake-camera');
const AGENT_CLI = join(ROOT, 'edge-agent', 'src', 'cli.ts');
const DEMO_CAMERA_NAME = 'Demo camera';

const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  // Readable logs for a person at a terminal; production (`picam-relay`) logs JSON.
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pretty({ colorize: process.stdout.isTTY, sync: true }));
  const relay = await startRelay(config, { log });
  const browserUrl = config.publicUrl ?? relay.url;

  let agent: ChildProcess | undefined;
  if (process.env.PICAM_DEMO_CAMERA !== '0') agent = await startDemoAgent(relay, config.dataDir);

  out();
  out(`  picam-relay is running: ${browserUrl}`);
  out();
  if (relay.admin.generatedPassword !== null) {
    out(`  log in as   ${relay.admin.username} / ${relay.admin.generatedPassword}`);
    out('  (the password is shown this once: store it, or set PICAM_ADMIN_PASSWORD; change it with');
    out('   `npm run relay -- users passwd admin`)');
  } else {
    out(`  log in as   ${relay.admin.username} (password: PICAM_ADMIN_PASSWORD or the one printed on first start)`);
  }
  if (agent) out(`  a simulated camera ("${DEMO_CAMERA_NAME}") is streaming a test clip to it.`);
  out();
  out('  next: open the URL, watch the demo camera, then "Cameras" -> "Add camera" gives the one');
  out('  command to paste on a Raspberry Pi (see README "Adding a Pi"). Ctrl-C stops everything.');
  out();

  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    agent?.kill('SIGTERM');
    relay.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/**
 * Enrolls the demo agent once (its config, with the device credential, lives in DATA_DIR like a Pi's
 * /etc/picam-agent/config.json) and runs it with the fake camera first on PATH.
 */
async function startDemoAgent(relay: RunningRelay, dataDir: string): Promise<ChildProcess> {
  const configPath = join(dataDir, 'demo-agent', 'config.json');
  const env = { ...process.env, PATH: `${FAKE_CAMERA_DIR}:${process.env.PATH ?? ''}`, LOG_LEVEL: process.env.PICAM_DEMO_AGENT_LOG_LEVEL ?? 'warn' };
  if (!demoAgentEnrolled(configPath, relay)) {
    // The demo camera records, so the first run shows a timeline.
    const { enrollment } = relay.provisionCamera(DEMO_CAMERA_NAME, relay.url, { record: 'continuous' });
    await runToEnd(spawnAgent(['enroll', '--relay', relay.url, '--token', enrollment.token, '--config', configPath], env));
  }
  const agent = spawnAgent(['run', '--config', configPath, '--relay', relay.url], env);
  agent.on('exit', (code, signal) => {
    if (signal !== 'SIGTERM') process.stderr.write(`demo agent exited (${code ?? signal}); the relay keeps running\n`);
  });
  return agent;
}

function demoAgentEnrolled(configPath: string, relay: RunningRelay): boolean {
  if (!existsSync(configPath)) return false;
  try {
    const { cameraId } = JSON.parse(readFileSync(configPath, 'utf8')) as { cameraId?: string };
    // Deleted in the UI since the last start: enroll a fresh one.
    return typeof cameraId === 'string' && relay.cameraExists(cameraId);
  } catch {
    return false;
  }
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

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`npm start: ${err.message}\n`);
  else process.stderr.write(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
