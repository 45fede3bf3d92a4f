import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBundle } from './bundles.ts';
import { UNCAPPED_SOCKETS } from '../../test/helpers/relay-process.ts';
import { REPO_ROOT } from './children.ts';

/**
 * The real relay (`relay-server/bin/picam-relay.js serve`, the same process `npm run relay`
 * starts) in a child process on loopback, PORT=0, a temp DATA_DIR, and the helpers to enroll
 * cameras through its HTTP API the way an admin and an agent do.
 */

const PASSWORD = 'bench-admin-password';

export interface BenchRelay {
  url: string;
  wsUrl: string;
  pid: number;
  child: ChildProcess;
  /** admin session JWT: the viewers' `?token=` */
  token: string;
  createCameras(count: number): Promise<Array<{ id: string; credential: string }>>;
  stop(): Promise<void>;
}

export interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** One JSON request, from a chosen loopback source address (enrollment is rate-limited per address). */
export function api(url: string, method: string, path: string, body?: unknown, token?: string, localAddress?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (data !== undefined) headers['content-type'] = 'application/json';
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const req = request(new URL(path, url), { method, headers, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

let bundleChecked = false;

/** `env`: extra relay environment (e.g. RECORD_DEFAULT for the recording bench). */
export async function startBenchRelay(options: { cpuProfDir?: string; env?: Record<string, string> } = {}): Promise<BenchRelay> {
  if (!bundleChecked) {
    // Its launcher would otherwise fall back to the sources through tsx (~40 MB more RSS).
    ensureBundle('relay-server/dist/picam-relay.mjs', ['relay-server/src', 'protocol/src', 'web/index.ts'], 'relay-server/build.mjs');
    bundleChecked = true;
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'picam-bench-relay-'));
  const nodeArgs = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  // Extra V8/Node flags for the relay alone, for experiments (e.g. --trace-gc): PICAM_BENCH_RELAY_NODE_ARGS.
  nodeArgs.push(...(process.env.PICAM_BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter(Boolean));
  const child = spawn(process.execPath, [...nodeArgs, 'relay-server/bin/picam-relay.js', 'serve'], {
    cwd: REPO_ROOT,
    // The socket caps off: a bench opens up to 1000 viewers on one admin session from loopback.
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, PICAM_ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: 'warn', ...UNCAPPED_SOCKETS, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8');
  if (process.env.PICAM_BENCH_RELAY_LOG) child.stdout!.pipe(createWriteStream(process.env.PICAM_BENCH_RELAY_LOG, { flags: 'a' }));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (output += c));
  const exited = once(child, 'exit');
  void exited.then(() => rmSync(dataDir, { recursive: true, force: true }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start in 30 s:\n${output}`)), 30_000);
    child.stdout!.on('data', (c: string) => {
      output += c;
      const m = /^picam-relay listening on (\S+)$/m.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => reject(new Error(`relay exited before listening:\n${output}`)));
  });
  const login = await api(url, 'POST', '/api/auth/login', { username: 'admin', password: PASSWORD });
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.json)}`);
  const token = login.json.token as string;
  let made = 0;

  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    pid: child.pid!,
    child,
    token,
    async createCameras(count) {
      const cameras: Array<{ id: string; credential: string }> = [];
      for (let i = 0; i < count; i++) {
        const n = made++;
        const created = await api(url, 'POST', '/api/cameras', { name: `bench camera ${n + 1}` }, token);
        if (created.status !== 201) throw new Error(`create camera: ${created.status} ${JSON.stringify(created.json)}`);
        const enrollment = created.json.enrollment as { token: string };
        const camera = created.json.camera as { id: string };
        // 20 enrollments per address per 15 min: spread them over 127.0.0.x.
        const from = `127.0.0.${2 + Math.floor(n / 15)}`;
        const enrolled = await api(url, 'POST', '/api/enroll', { token: enrollment.token }, undefined, from);
        if (enrolled.status !== 200) throw new Error(`enroll: ${enrolled.status} ${JSON.stringify(enrolled.json)}`);
        cameras.push({ id: camera.id, credential: enrolled.json.credential as string });
      }
      return cameras;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
