import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { CameraSettings } from '@picam/protocol';
import { createAccounts, type Accounts } from '../src/accounts.ts';
import { createApp } from '../src/app.ts';
import { loadConfig, type RelayConfig } from '../src/config.ts';
import { openDatabase, type OpenedDatabase } from '../src/db/client.ts';
import { testDatabaseUrl } from '../../test/helpers/test-database.ts';
import { createLogger } from '../src/logger.ts';
import type { LiveCameras, LiveCameraStatus } from '../src/services.ts';

/**
 * Test harness for the accounts side: a real SQLite file (real migrations) in a temp DATA_DIR, or
 * with PICAM_TEST_DATABASE=postgres a fresh database on a throwaway Postgres (test-database.ts),
 * the real Hono app driven with app.request(), a settable clock, and a LiveCameras stub that
 * records every call. Not a test file itself (no .test.ts), imported by accounts-*.test.ts.
 */

export const ADMIN_PASSWORD = 'correct horse battery';
export const PUBLIC_ORIGIN = 'https://relay.example';
export const START = Date.UTC(2030, 0, 1);

export class StubLive implements LiveCameras {
  calls: Array<[string, ...unknown[]]> = [];
  viewers = new Map<string, number>();
  statuses = new Map<string, LiveCameraStatus>();
  status(cameraId: string) {
    return this.statuses.get(cameraId);
  }
  viewersOfGrant(grantId: string) {
    return this.viewers.get(grantId) ?? 0;
  }
  pushSettings(cameraId: string, settings: CameraSettings) {
    this.calls.push(['pushSettings', cameraId, settings]);
  }
  cameraDeleted(cameraId: string) {
    this.calls.push(['cameraDeleted', cameraId]);
  }
  credentialRevoked(cameraId: string) {
    this.calls.push(['credentialRevoked', cameraId]);
  }
  grantRevoked(grantId: string) {
    this.calls.push(['grantRevoked', grantId]);
  }
  recheckUser(userId: string) {
    this.calls.push(['recheckUser', userId]);
  }
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  token?: string;
  cookie?: string;
  origin?: string;
  address?: string;
  headers?: Record<string, string>;
}

export interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown> & { error?: { code: string; message: string } };
}

export interface Harness {
  config: RelayConfig;
  database: OpenedDatabase;
  accounts: Accounts;
  app: Hono;
  live: StubLive;
  clock: { now: number };
  request(method: string, path: string, options?: RequestOptions): Promise<Answer>;
  login(username: string, password: string, address?: string): Promise<string>;
  adminToken(): Promise<string>;
  /** creates a camera as admin; returns its id and enrollment token */
  camera(name?: string): Promise<{ id: string; token: string }>;
  enroll(token: string): Promise<string>;
  share(cameraId: string, body?: Record<string, unknown>): Promise<{ id: string; token: string; url: string }>;
  viewer(username: string, cameraIds: string[]): Promise<{ id: string; token: string }>;
  /** raw SQL on the registry, whichever dialect (keep it portable: no rowid, counts cast) */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** every table but the audit log, for "nothing else changed" checks */
  snapshot(): Promise<string>;
  close(): Promise<void>;
}

export async function createHarness(overrides: Partial<RelayConfig> = {}, scryptCost = 4): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'picam-accounts-'));
  const config: RelayConfig = {
    ...loadConfig({}),
    dataDir,
    publicUrl: PUBLIC_ORIGIN,
    adminPassword: ADMIN_PASSWORD,
    // The clock stands still in these tests: a per-second cap would soon refuse every sign-in.
    loginHashesPerSecond: 1000,
    databaseUrl: await testDatabaseUrl(),
    ...overrides,
  };
  const database = await openDatabase(config);
  const clock = { now: START };
  const live = new StubLive();
  const log = createLogger('silent');
  const accounts = await createAccounts({ db: database.db, index: database.index, config, log, live: () => live, now: () => clock.now, scryptCost });
  await accounts.bootstrapAdmin();
  const app = createApp({ log, observability: new Hono(), api: accounts.api });
  let cachedAdmin: string | undefined;

  async function query<T>(sql: string): Promise<T[]> {
    if (database.pool) return (await database.pool.query(sql)).rows as T[];
    const statement = database.sqlite.prepare(sql);
    if (statement.reader) return statement.all() as T[];
    statement.run();
    return [];
  }

  async function request(method: string, path: string, o: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined || o.rawBody !== undefined) headers['content-type'] = 'application/json';
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    if (o.cookie !== undefined) headers.cookie = `picam_session=${o.cookie}`;
    if (o.origin !== undefined) headers.origin = o.origin;
    const body = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const env = { incoming: { socket: { remoteAddress: o.address ?? '192.0.2.1' } } };
    const res = await app.request(`http://relay.internal${path}`, { method, headers, body }, env);
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Answer['json']) : {} };
  }

  async function login(username: string, password: string, address?: string): Promise<string> {
    const res = await request('POST', '/api/auth/login', { body: { username, password }, address });
    if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${JSON.stringify(res.json)}`);
    return res.json.token as string;
  }

  async function adminToken(): Promise<string> {
    cachedAdmin ??= await login('admin', ADMIN_PASSWORD, '198.51.100.1');
    return cachedAdmin;
  }

  return {
    config,
    database,
    accounts,
    app,
    live,
    clock,
    request,
    login,
    adminToken,
    async camera(name = 'Porch') {
      const res = await request('POST', '/api/cameras', { token: await adminToken(), body: { name } });
      if (res.status !== 201) throw new Error(`camera: ${res.status} ${JSON.stringify(res.json)}`);
      const camera = res.json.camera as { id: string };
      const enrollment = res.json.enrollment as { token: string };
      return { id: camera.id, token: enrollment.token };
    },
    async enroll(token) {
      const res = await request('POST', '/api/enroll', { body: { token } });
      if (res.status !== 200) throw new Error(`enroll: ${res.status} ${JSON.stringify(res.json)}`);
      return res.json.credential as string;
    },
    async share(cameraId, body = { expiresIn: 3600, label: 'friend' }) {
      const res = await request('POST', `/api/cameras/${cameraId}/shares`, { token: await adminToken(), body });
      if (res.status !== 201) throw new Error(`share: ${res.status} ${JSON.stringify(res.json)}`);
      return { id: (res.json.share as { id: string }).id, token: res.json.token as string, url: res.json.url as string };
    },
    async viewer(username, cameraIds) {
      const res = await request('POST', '/api/users', {
        token: await adminToken(),
        body: { username, password: 'viewer-password', role: 'viewer', cameraIds },
      });
      if (res.status !== 201) throw new Error(`viewer: ${res.status} ${JSON.stringify(res.json)}`);
      return { id: (res.json.user as { id: string }).id, token: await login(username, 'viewer-password', `203.0.113.${cameraIds.length + 10}`) };
    },
    query,
    async snapshot() {
      const tables = ['users', 'user_cameras', 'sessions', 'cameras', 'enrollment_tokens', 'shares'];
      return JSON.stringify(await Promise.all(tables.map((t) => query(`SELECT * FROM ${t} ORDER BY 1, 2`))));
    },
    async close() {
      accounts.close();
      await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
