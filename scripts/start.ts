/**
 * `npm start`: the whole system on its embedded defaults, for a first look.
 *   - the relay (http://localhost:8080, SQLite under ./data, an admin account),
 *   - a simulated camera: the real agent (`picam-agent`) enrolled the way a Pi is, streaming a bundled
 *     clip through the fake `rpicam-vid` in test/fake-camera (the only stand-in).
 * Environment: the relay's own (PORT, HOST, DATA_DIR, PUBLIC_URL, PICAM_ADMIN_PASSWORD, LOG_LEVEL),
 * plus PICAM_DEMO_CAMERA=0 to start the relay alone.
 */
import type { ChildProcess } from 'node:child_process';
import pretty from 'pino-pretty';
import { ConfigError, loadConfig } from '../relay-server/src/config.ts';
import { createLogger } from '../relay-server/src/logger.ts';
import { startRelay } from '../relay-server/src/server.ts';
import { DEMO_CAMERA_NAME, startDemoAgent } from './demo-camera.ts';

const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  // Readable logs for a person at a terminal; production (`picam-relay`) logs JSON.
  const log = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pretty({ colorize: process.stdout.isTTY, sync: true }));
  const relay = await startRelay(config, { log });
  const browserUrl = config.publicUrl ?? relay.url;

  let agent: ChildProcess | undefined;
  if (process.env.PICAM_DEMO_CAMERA !== '0') {
    const demoRelay = {
      url: relay.url,
      enrolled: ({ cameraId }: { cameraId: string }) => relay.cameraExists(cameraId),
      // The demo camera records, so the first run shows a timeline.
      provision: async (name: string) => (await relay.provisionCamera(name, relay.url, { record: 'continuous' })).enrollment.token,
    };
    agent = await startDemoAgent(demoRelay, config.dataDir);
  }

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

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`npm start: ${err.message}\n`);
  else process.stderr.write(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
