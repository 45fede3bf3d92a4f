/**
 * A Postgres cluster of `npm run cluster`'s own, kept in a directory between runs: `initdb` the first
 * time, then the server on a free loopback port at each start (TCP only, no Unix socket), password
 * authentication (SCRAM) with a generated password kept beside it (mode 0600). Debian's
 * `postgresql` package puts the binaries in /usr/lib/postgresql/<version>/bin, off PATH. Postgres
 * refuses to run as root, so as root the cluster belongs to the `postgres` OS user.
 */
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';

const ROLE = 'picam';
const DATABASE = 'picam';

export interface LocalPostgres {
  /** postgres://picam:<password>@127.0.0.1:<port>/picam */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly version: string;
  /** whether this start ran initdb */
  readonly created: boolean;
  /** settles when the server exits, by itself or after stop() */
  readonly exited: Promise<void>;
  /** the server's last log lines */
  output(): string;
  /** fast shutdown: open connections are cut */
  stop(): Promise<void>;
}

/** Debian's postgresql puts its binaries in /usr/lib/postgresql/<version>/bin, off PATH. */
export function findBinDir(): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (onPath && existsSync(join(dirname(onPath), 'postgres'))) return dirname(onPath);
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export function postgresMissing(): string | undefined {
  return findBinDir() ? undefined : 'initdb/postgres (Debian: apt install postgresql)';
}

/** The uid/gid the server runs as: ours, or the `postgres` user's when we are root. */
export function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || uid <= 0 || !Number.isInteger(gid)) {
    throw new Error('running as root and there is no `postgres` OS user to run Postgres as (apt install postgresql)');
  }
  return { uid, gid };
}

/**
 * Starts the cluster in `pgdata` (created with initdb when it holds none yet). `traversable` are
 * directories above it that the server's user must be able to pass through when that user is not
 * us (root: the data directory is 0700); they get search permission for others (o+x), nothing more.
 */
export async function startLocalPostgres(pgdata: string, traversable: readonly string[] = []): Promise<LocalPostgres> {
  const bin = findBinDir();
  if (!bin) throw new Error(`cannot start Postgres: missing ${postgresMissing()}`);
  const identity = serverIdentity();
  const passwordFile = `${pgdata}.password`;
  let created = false;

  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    if (identity) for (const dir of traversable) chmodSync(dir, statSync(dir).mode | 0o001);
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    if (identity) chownSync(pgdata, identity.uid, identity.gid);
    const password = randomBytes(18).toString('base64url');
    // initdb reads the superuser's password from a file the server's user can read; removed at once.
    const pwfile = join(pgdata, '..', `.initdb-pw-${process.pid}`);
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (identity) chownSync(pwfile, identity.uid, identity.gid);
    try {
      const init = spawnSync(
        join(bin, 'initdb'),
        ['-D', pgdata, '-U', ROLE, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-instructions'],
        { encoding: 'utf8', ...identity },
      );
      if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
    } finally {
      rmSync(pwfile, { force: true });
    }
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    created = true;
  } else if (identity) {
    for (const dir of traversable) chmodSync(dir, statSync(dir).mode | 0o001);
  }
  if (!existsSync(passwordFile)) {
    throw new Error(`${pgdata} holds a Postgres cluster but its password file ${passwordFile} is gone: delete ${pgdata} to start a new one`);
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const version = readFileSync(join(pgdata, 'PG_VERSION'), 'utf8').trim();

  const port = await freePort();
  const child = spawn(
    join(bin, 'postgres'),
    ['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...identity },
  );
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (log = (log + chunk).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // SIGINT: Postgres's fast shutdown (connections are cut, a clean checkpoint); SIGQUIT if it hangs.
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGQUIT'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  const admin = (database: string) => `postgres://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  try {
    const died = exited.then(() => {
      throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${log}`);
    });
    died.catch(() => {});
    await Promise.race([waitUntilAccepting(admin('postgres'), 30_000), died]);
    const client = new pg.Client({ connectionString: admin('postgres') });
    await client.connect();
    try {
      const found = await client.query('select 1 from pg_database where datname = $1', [DATABASE]);
      if (found.rowCount === 0) await client.query(`create database ${DATABASE}`);
    } finally {
      await client.end();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: admin(DATABASE), port, pid: child.pid ?? -1, version, created, exited, output: () => log, stop };
}

export async function waitUntilAccepting(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`Postgres did not accept connections within ${timeoutMs} ms: ${String(err)}`);
      // Still starting ("the database system is starting up"): no event says when it is ready.
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** A port nobody listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
