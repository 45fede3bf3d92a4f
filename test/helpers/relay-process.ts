import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { testDatabaseUrl } from './test-database.ts';

/**
 * A real relay in a child process (the `picam-relay` launcher), on loopback with PORT=0 and a temp
 * DATA_DIR, driven through its real HTTP API: admin login, camera creation, enrollment. With
 * PICAM_TEST_DATABASE=postgres its registry is a fresh Postgres database (test-database.ts).
 */

const ADMIN_PASSWORD = 'relay-test-password';
const BIN = fileURLToPath(new URL('../../relay-server/bin/picam-relay.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;
/** opens /metrics on the relay's port for metric() (it is closed there without one) */
export const METRICS_TOKEN = 'relay-test-metrics-token';
/**
 * The socket caps off: these tests open dozens of viewers on one admin session from one address,
 * which the defaults (16 per session) refuse on purpose. relay-server/test/attacks-sockets.test.ts
 * tests the caps themselves.
 */
export const UNCAPPED_SOCKETS = {
  MAX_VIEWERS_PER_SESSION: '0',
  MAX_VIEWERS_PER_USER: '0',
  MAX_VIEWERS_PER_SHARE: '0',
  MAX_VIEWERS_PER_ADDRESS: '0',
  MAX_AGENTS_PER_ADDRESS: '0',
  WS_UPGRADES_PER_MINUTE: '0',
} as const;

export interface RelayProcess {
  url: string;
  wsUrl: string;
  port: number;
  child: ChildProcess;
  dataDir: string;
  /** everything the process printed, for failure messages */
  output(): string;
  adminToken: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are inspected ad hoc by each test
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: any }>;
  /** creates a camera and enrolls it: its id and device credential */
  createCamera(name?: string): Promise<{ id: string; credential: string }>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  /** sends a signal and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** One JSON request to a relay at `baseUrl` (Bearer token when given): the status and the parsed body. */
export async function jsonRequest(baseUrl: string, method: string, path: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are inspected ad hoc by each test
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as any };
}

const databasesByDataDir = new Map<string, Promise<string | undefined>>();

function databaseOf(dataDir: string): Promise<string | undefined> {
  let url = databasesByDataDir.get(dataDir);
  if (!url) databasesByDataDir.set(dataDir, (url = testDatabaseUrl()));
  return url;
}

export async function startRelayProcess(env: Record<string, string> = {}): Promise<RelayProcess> {
  // PICAM_TEST_DATABASE=postgres: the registry on a fresh database of the test process's Postgres;
  // a relay restarted on the same DATA_DIR finds its registry again.
  const databaseUrl = env.DATABASE_URL ?? (env.DATA_DIR === undefined ? await testDatabaseUrl() : await databaseOf(env.DATA_DIR));
  const dataDir = mkdtempSync(join(tmpdir(), 'picam-relay-test-'));
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      PICAM_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LOG_LEVEL: 'warn',
      METRICS_TOKEN,
      ...UNCAPPED_SOCKETS,
      ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => rmSync(dataDir, { recursive: true, force: true }));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start in time:\n${output}`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: string) => {
      output += chunk;
      const match = /^picam-relay listening on (\S+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code}) before listening:\n${output}`));
    });
  });
  const port = Number(new URL(url).port);

  const api = (method: string, path: string, body?: unknown, token?: string) => jsonRequest(url, method, path, body, token);

  const login = await api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  if (login.status !== 200) throw new Error(`admin login failed: ${login.status} ${JSON.stringify(login.json)}`);
  const adminToken = login.json.token as string;
  let cameraCount = 0;

  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    port,
    child,
    dataDir,
    output: () => output,
    adminToken,
    api,
    async createCamera(name = `camera ${++cameraCount}`) {
      const created = await api('POST', '/api/cameras', { name }, adminToken);
      if (created.status !== 201) throw new Error(`create camera: ${created.status} ${JSON.stringify(created.json)}`);
      const enrolled = await api('POST', '/api/enroll', { token: created.json.enrollment.token });
      if (enrolled.status !== 200) throw new Error(`enroll: ${enrolled.status} ${JSON.stringify(enrolled.json)}`);
      return { id: created.json.camera.id as string, credential: enrolled.json.credential as string };
    },
    async metric(name, labels = {}) {
      const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      const text = await res.text();
      for (const line of text.split('\n')) {
        if (!line.startsWith(name)) continue;
        const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
        if (!match || match[1] !== name) continue;
        const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(match[3]);
      }
      return undefined;
    },
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    exited,
  };
}
