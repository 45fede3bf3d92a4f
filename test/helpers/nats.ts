import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { skipForMissingTool } from './missing-tool.ts';
import { commandExists, freePort, retryWhilePortTaken } from './proxies.ts';

/**
 * A real nats-server (Debian's `nats-server`) for one test file, on a free loopback port, with the
 * payload limit the cluster's deployment config uses (infra/cluster/nats.conf): a GOP travels in one
 * reply. It can be stopped and started again on the same port, as a NATS outage looks to the relays.
 */

export interface TestNats {
  readonly url: string;
  readonly port: number;
  /** nats-server's monitoring endpoint (/varz, /connz: per-connection bytes and messages) */
  readonly monitorUrl: string;
  /** the running server's process id (CPU figures), undefined while stopped */
  readonly pid: number | undefined;
  /** stops the server (SIGTERM); the port stays reserved for startServer */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  close(): Promise<void>;
}

export function natsMissing(): string | undefined {
  return commandExists('nats-server') ? undefined : 'nats-server (Debian package nats-server)';
}

/** nats-server, or a skipped test with a loud message when it is not installed; with `CI` set, a failure. */
export async function natsOrSkip(t: TestContext): Promise<TestNats | null> {
  const missing = natsMissing();
  if (missing) {
    skipForMissingTool(t, `NATS not installed (missing ${missing}): its tests NOT RUN`);
    return null;
  }
  const server = await startNats();
  t.after(() => server.close());
  return server;
}

/** `authorization`: the server asks every client for this user and password. */
export async function startNats(options: { authorization?: { user: string; password: string } } = {}): Promise<TestNats> {
  const missing = natsMissing();
  if (missing) throw new Error(`cannot start NATS: missing ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'picam-nats-'));
  const config = join(dir, 'nats.conf');
  const auth = options.authorization ? `authorization: { user: ${JSON.stringify(options.authorization.user)}, password: ${JSON.stringify(options.authorization.password)} }\n` : '';
  let port = 0;
  let monitorPort = 0;
  let server: ChildProcess | undefined;

  async function startServer(): Promise<void> {
    const child = spawn('nats-server', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    server = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString('utf8')).slice(-4000);
        if (log.includes('Server is ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`nats-server exited (${code}) before it was ready:\n${log}`)));
    });
  }

  async function stopServer(): Promise<void> {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  // Later starts (after stopServer) keep these ports: a NATS outage, as the relays see it.
  await retryWhilePortTaken(async () => {
    port = await freePort();
    monitorPort = await freePort();
    writeFileSync(config, `host: 127.0.0.1\nport: ${port}\nhttp: 127.0.0.1:${monitorPort}\nmax_payload: 8MB\n${auth}`);
    await startServer();
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl: `http://127.0.0.1:${monitorPort}`,
    get pid() {
      return server?.pid;
    },
    stopServer,
    startServer,
    async close() {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
