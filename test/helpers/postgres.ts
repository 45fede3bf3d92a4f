import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { skipForMissingTool } from './missing-tool.ts';
import pg from 'pg';
import { findBinDir, postgresMissing, serverIdentity, waitUntilAccepting } from '../../scripts/local-postgres.ts';
import { freePort, retryWhilePortTaken } from './proxies.ts';

export { postgresMissing };

/**
 * A throwaway Postgres cluster for one test file: `initdb` in a temp dir, the server on a free
 * loopback port, trust authentication, no fsync (a test's database need not survive a power cut).
 * Debian's `postgresql` package puts its binaries in /usr/lib/postgresql/<version>/bin, off PATH.
 * Postgres refuses to run as root, so as root (CI) the cluster belongs to the `postgres` OS user.
 */

export interface TestPostgres {
  /** the maintenance database's URL (postgres://picam@127.0.0.1:<port>/postgres) */
  readonly url: string;
  readonly port: number;
  /** a fresh, empty database; returns its URL */
  createDatabase(name?: string): Promise<string>;
  /** stops the server, keeping its data: what a node sees when Postgres goes down */
  stopServer(): Promise<void>;
  /** starts it again on the same port and data */
  startServer(): Promise<void>;
  /** stops the server and deletes the cluster */
  close(): Promise<void>;
}

const USER = 'picam';

/**
 * The throwaway Postgres, or a skipped test with a loud message when Postgres is not installed; with
 * `CI` set a missing Postgres fails instead. Closed when the test (or suite) `t` ends.
 */
export async function postgresOrSkip(t: TestContext): Promise<TestPostgres | null> {
  const missing = postgresMissing();
  if (missing) {
    skipForMissingTool(t, `Postgres not installed (missing ${missing}): its tests NOT RUN`);
    return null;
  }
  const server = await startPostgres();
  t.after(() => server.close());
  return server;
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findBinDir();
  if (!bin) throw new Error(`cannot start Postgres: missing ${postgresMissing()}`);
  const identity = serverIdentity();
  const dir = mkdtempSync(join(tmpdir(), 'picam-pg-'));
  if (identity) chownSync(dir, identity.uid, identity.gid);
  const data = join(dir, 'data');
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', USER, '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], {
    encoding: 'utf8',
    ...identity,
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  }
  let port = 0;
  let url = '';
  let server: ChildProcess | undefined;
  let log = '';
  let counter = 0;

  async function startServer(): Promise<void> {
    const child = spawn(
      join(bin!, 'postgres'),
      // The socket directory is the temp dir: /var/run/postgresql may not exist or not be ours.
      ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      { stdio: ['ignore', 'ignore', 'pipe'], ...identity },
    );
    server = child;
    log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString('utf8')).slice(-4000)));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => reject(new Error(`postgres exited (${code}) before accepting connections:\n${log}`))),
    );
    exited.catch(() => {});
    await Promise.race([waitUntilAccepting(url, 30_000), exited]);
  }

  async function stopServer(): Promise<void> {
    const child = server;
    server = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // SIGINT is Postgres's "fast" shutdown: connections are cut, no wait for clients to leave.
    child.kill('SIGINT');
    await exited;
  }

  // Later starts (after stopServer) keep this port: a database outage, as the relays see it.
  await retryWhilePortTaken(async () => {
    port = await freePort();
    url = `postgres://${USER}@127.0.0.1:${port}/postgres`;
    await startServer();
  });
  return {
    url,
    port,
    async createDatabase(name = `t${++counter}_${process.pid}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`create database "${name}"`);
      } finally {
        await client.end();
      }
      return `postgres://${USER}@127.0.0.1:${port}/${name}`;
    },
    stopServer,
    startServer,
    async close() {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
