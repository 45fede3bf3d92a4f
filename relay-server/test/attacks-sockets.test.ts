import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Hono } from 'hono';
import WebSocket from 'ws';
import { CloseCode, DEFAULT_CAMERA_SETTINGS, encodeMessage } from '@picam/protocol';
import { TrustedProxies } from '../src/client-address.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startRelay, type RunningRelay } from '../src/server.ts';
import { ADMIN_PASSWORD, createHarness } from './accounts-harness.ts';
import { jsonRequest } from '../../test/helpers/relay-process.ts';
import { testDatabaseUrl } from '../../test/helpers/test-database.ts';

/**
 * The attack suite for live sockets and the relay's edges: each case is a hostile client against a
 * real relay on loopback (real HTTP server, real `ws`, real SQLite file), expecting the precise
 * refusal a user or operator would see (HTTP status and error code at the upgrade, close code on an
 * open socket, header values) and that the relay keeps serving everyone else.
 */

// ---- a relay on loopback -------------------------------------------------------------------------

interface TestRelay {
  relay: RunningRelay;
  url: string;
  wsUrl: string;
  dataDir: string;
  /** every log line the relay wrote, parsed */
  logs: Array<Record<string, unknown>>;
  admin: string;
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }>;
  camera(name?: string): Promise<{ id: string; credential: string }>;
  /** revokes a camera's credential straight in the database, as another process (the CLI, another node) would */
  revokeElsewhere(cameraId: string): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function startTestRelay(env: Record<string, string> = {}, options: { web?: Hono; sweepMs?: number } = {}): Promise<TestRelay> {
  const dataDir = mkdtempSync(join(tmpdir(), 'picam-attacks-sockets-'));
  const databaseUrl = await testDatabaseUrl();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    PICAM_ADMIN_PASSWORD: ADMIN_PASSWORD,
    ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
    ...env,
  });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const relay = await startRelay(config, { log: createLogger('info', sink), web: options.web ?? new Hono(), sweepMs: options.sweepMs });
  cleanups.push(async () => {
    await relay.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${relay.port}`;
  const api = (method: string, path: string, body?: unknown, token?: string) => jsonRequest(url, method, path, body, token);
  const login = await api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  const admin = login.json.token as string;
  return {
    relay,
    url,
    wsUrl: `ws://127.0.0.1:${relay.port}`,
    dataDir,
    logs,
    admin,
    api,
    async revokeElsewhere(cameraId) {
      const revoke = 'UPDATE cameras SET credential_hash = NULL WHERE id = $1';
      if (databaseUrl === undefined) {
        const db = new Database(join(dataDir, 'picam.db'));
        db.prepare(revoke.replace('$1', '?')).run(cameraId);
        db.close();
        return;
      }
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      await client.query(revoke, [cameraId]).finally(() => client.end());
    },
    async camera(name = 'Porch') {
      const created = await api('POST', '/api/cameras', { name }, admin);
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const token = (created.json.enrollment as { token: string }).token;
      const enrolled = await api('POST', '/api/enroll', { token });
      assert.equal(enrolled.status, 200, JSON.stringify(enrolled.json));
      return { id: (created.json.camera as { id: string }).id, credential: enrolled.json.credential as string };
    },
  };
}

// ---- sockets -------------------------------------------------------------------------------------

type Opened = { kind: 'open' } | { kind: 'refused'; status: number; code: string | undefined; body: string };

interface Client {
  ws: WebSocket;
  /** the upgrade's outcome: open, or the HTTP refusal with its error body */
  opened: Promise<Opened>;
  closed: Promise<{ code: number; reason: string }>;
  messages: Array<Record<string, unknown>>;
}

function connect(url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}): Client {
  const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
  const messages: Array<Record<string, unknown>> = [];
  ws.on('message', (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
  });
  const opened = new Promise<Opened>((resolve, reject) => {
    ws.once('open', () => resolve({ kind: 'open' }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const parsed = body ? (JSON.parse(body) as { error?: { code: string } }) : {};
        resolve({ kind: 'refused', status: res.statusCode ?? 0, code: parsed.error?.code, body });
        ws.terminate();
      });
    });
    ws.once('error', (err) => reject(err));
  });
  opened.catch(() => {});
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  cleanups.push(() => ws.terminate());
  return { ws, opened, closed, messages };
}

const agent = (r: TestRelay, credential: string, headers: Record<string, string> = {}) =>
  connect(`${r.wsUrl}/api/agent`, { headers: { authorization: `Bearer ${credential}`, ...headers } });

const viewer = (r: TestRelay, cameraId: string, token: string, headers: Record<string, string> = {}) =>
  connect(`${r.wsUrl}/api/cameras/${cameraId}/live`, { protocols: ['picam.v1', `picam.token.${token}`], headers });

function hello(ws: WebSocket): void {
  ws.send(
    encodeMessage({
      type: 'hello',
      agentVersion: 'attack-1.0',
      settings: DEFAULT_CAMERA_SETTINGS,
      video: null,
      audio: null,
    } as Parameters<typeof encodeMessage>[0]),
  );
}

/** Resolves with the value, or rejects after `ms` naming what was awaited (a guard, not a sleep). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

async function online(r: TestRelay, cameraId: string): Promise<boolean> {
  const res = await r.api('GET', `/api/cameras/${cameraId}`, undefined, r.admin);
  return (res.json.camera as { status: { online: boolean } }).status.online;
}

/** Polls a condition every 20 ms until true (the relay has no event for it), or fails after ms. */
async function until(condition: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- 1. a revoked device credential ---------------------------------------------------------------

test('1a. an agent socket waiting for hello is closed (4001) when its credential is revoked by re-enrollment', async () => {
  const r = await startTestRelay();
  const cam = await r.camera();
  const stolen = agent(r, cam.credential);
  assert.deepEqual(await stolen.opened, { kind: 'open' });
  const reenrolled = await r.api('POST', `/api/cameras/${cam.id}/enrollment`, {}, r.admin);
  assert.equal(reenrolled.status, 201, JSON.stringify(reenrolled.json));
  const closed = await within(stolen.closed, 2_000, 'the waiting socket to be closed');
  assert.equal(closed.code, CloseCode.Unauthenticated);
  // and its late hello takes nothing over
  assert.equal(await online(r, cam.id), false);
});

test('1b. an agent socket waiting for hello is closed (4004) when its camera is deleted', async () => {
  const r = await startTestRelay();
  const cam = await r.camera();
  const waiting = agent(r, cam.credential);
  assert.deepEqual(await waiting.opened, { kind: 'open' });
  assert.equal((await r.api('DELETE', `/api/cameras/${cam.id}`, undefined, r.admin)).status, 204);
  assert.equal((await within(waiting.closed, 2_000, 'the waiting socket to be closed')).code, CloseCode.NoSuchCamera);
});

test('1c. the credential is checked again at hello: revoked by another process, the hello is refused', async () => {
  const r = await startTestRelay();
  const cam = await r.camera();
  const waiting = agent(r, cam.credential);
  assert.deepEqual(await waiting.opened, { kind: 'open' });
  // Another process (the CLI, a second admin tool) revokes it in the database; no call reaches the relay.
  await r.revokeElsewhere(cam.id);
  hello(waiting.ws);
  assert.equal((await within(waiting.closed, 2_000, 'the hello to be refused')).code, CloseCode.Unauthenticated);
  assert.equal(await online(r, cam.id), false);
});

test('1f. the periodic sweep re-checks live agents too: a credential revoked by another process cuts its agent (4001)', async () => {
  const r = await startTestRelay({}, { sweepMs: 200 });
  const cam = await r.camera();
  const live = agent(r, cam.credential);
  assert.deepEqual(await live.opened, { kind: 'open' });
  hello(live.ws);
  await until(() => online(r, cam.id), 2_000, 'the camera to come online');
  await r.revokeElsewhere(cam.id);
  assert.equal((await within(live.closed, 3_000, 'the sweep to cut the agent')).code, CloseCode.Unauthenticated);
});

test('1d. at most two sockets per credential wait for hello; a third is refused 429 at the upgrade', async () => {
  const r = await startTestRelay();
  const cam = await r.camera();
  const first = agent(r, cam.credential);
  const second = agent(r, cam.credential);
  assert.deepEqual(await first.opened, { kind: 'open' });
  assert.deepEqual(await second.opened, { kind: 'open' });
  const third = await agent(r, cam.credential).opened;
  assert.equal(third.kind, 'refused');
  assert.equal(third.kind === 'refused' && third.status, 429);
  assert.equal(third.kind === 'refused' && third.code, 'rate_limited');
  assert.ok(!JSON.stringify(r.logs).includes(cam.credential), 'the credential is never logged');
  // A hello frees the slot: the camera's real agent still gets on.
  hello(first.ws);
  await until(() => online(r, cam.id), 2_000, 'the camera to come online');
  assert.deepEqual(await agent(r, cam.credential).opened, { kind: 'open' });
});

test('1e. the hello deadline is short and configurable (AGENT_HELLO_TIMEOUT)', async () => {
  assert.equal(loadConfig({}).agentHelloTimeoutMs, 5_000, 'default: 5 s');
  const r = await startTestRelay({ AGENT_HELLO_TIMEOUT: '0.5' });
  const cam = await r.camera();
  const silent = agent(r, cam.credential);
  assert.deepEqual(await silent.opened, { kind: 'open' });
  const started = Date.now();
  const closed = await within(silent.closed, 3_000, 'the silent agent to be closed');
  assert.equal(closed.code, CloseCode.PolicyViolation);
  assert.ok(Date.now() - started >= 400, 'not before the deadline');
});

// ---- 4. TRUST_PROXY --------------------------------------------------------------------------------

test('4a. TRUST_PROXY=1 believes X-Forwarded-* from loopback only; any other peer is the client itself', async () => {
  const h = await createHarness({ trustProxy: TrustedProxies.parse('1') });
  cleanups.push(() => h.close());
  const login = (address: string, headers: Record<string, string>) =>
    h.request('POST', '/api/auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD }, address, headers });
  const spoofed = await login('203.0.113.7', { 'x-forwarded-for': '198.51.100.99', 'x-forwarded-proto': 'https' });
  assert.equal(spoofed.status, 200);
  assert.doesNotMatch(spoofed.headers.get('set-cookie') ?? '', /Secure/, 'an outside peer cannot claim https');
  const proxied = await login('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.20', 'x-forwarded-proto': 'https' });
  assert.match(proxied.headers.get('set-cookie') ?? '', /Secure/);
  const addresses = (await h.query<{ address: string }>("SELECT address FROM audit_log WHERE action LIKE 'login%' ORDER BY id")).map(
    (row) => row.address,
  );
  assert.deepEqual(addresses.slice(-2), ['203.0.113.7', '198.51.100.20']);
});

test('4b. TRUST_PROXY takes a list of proxies; hops are read from the right past trusted ones', async () => {
  assert.throws(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' }), /TRUST_PROXY/);
  const h = await createHarness({ trustProxy: loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.1' }).trustProxy });
  cleanups.push(() => h.close());
  await h.request('POST', '/api/auth/login', {
    body: { username: 'admin', password: ADMIN_PASSWORD },
    address: '::ffff:10.1.2.3',
    headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.30, 192.0.2.1, 10.9.9.9' },
  });
  const [row] = await h.query<{ address: string }>("SELECT address FROM audit_log WHERE action LIKE 'login%' ORDER BY id DESC");
  assert.equal(row?.address, '198.51.100.30');
});

test('4c. an untrusted peer cannot escape the per-address socket cap with X-Forwarded-For', async () => {
  const r = await startTestRelay({ TRUST_PROXY: '192.0.2.0/24', MAX_VIEWERS_PER_ADDRESS: '2' });
  const cam = await r.camera();
  for (const spoof of ['198.51.100.1', '198.51.100.2']) {
    assert.deepEqual(await viewer(r, cam.id, r.admin, { 'x-forwarded-for': spoof }).opened, { kind: 'open' });
  }
  const third = await viewer(r, cam.id, r.admin, { 'x-forwarded-for': '198.51.100.3' }).opened;
  assert.equal(third.kind === 'refused' && third.status, 429);
});

// ---- 5. limits on live sockets ------------------------------------------------------------------------

async function opened(clients: Client[]): Promise<number> {
  const outcomes = await Promise.all(clients.map((c) => c.opened));
  return outcomes.filter((o) => o.kind === 'open').length;
}

test('5a. one session opens at most 64 viewer sockets by default; the 65th is refused 429 too_many_viewers, logged without the token', async () => {
  const r = await startTestRelay();
  const cam = await r.camera();
  const allowed = Array.from({ length: 64 }, () => viewer(r, cam.id, r.admin));
  assert.equal(await opened(allowed), 64);
  const over = await viewer(r, cam.id, r.admin).opened;
  assert.equal(over.kind, 'refused');
  assert.equal(over.kind === 'refused' && over.status, 429);
  assert.equal(over.kind === 'refused' && over.code, 'too_many_viewers');
  const refusals = r.logs.filter((l) => l.msg === 'websocket upgrade refused' && l.status === 429);
  assert.equal(refusals.length, 1, 'logged once');
  assert.ok(!JSON.stringify(r.logs).includes(r.admin), 'no token in the logs');
  // Closing one frees a slot.
  allowed[0]!.ws.close();
  await within(allowed[0]!.closed, 2_000, 'a viewer to close');
  await until(async () => (await viewer(r, cam.id, r.admin).opened).kind === 'open', 2_000, 'the freed slot');
});

test('5b. caps per user (across sessions), per share link (without maxViewers) and per address', async () => {
  const r = await startTestRelay({ MAX_VIEWERS_PER_SESSION: '2', MAX_VIEWERS_PER_USER: '3', MAX_VIEWERS_PER_SHARE: '2', MAX_VIEWERS_PER_ADDRESS: '6' });
  const cam = await r.camera();
  const second = (await r.api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).json.token as string;
  // per session
  assert.equal(await opened([viewer(r, cam.id, r.admin), viewer(r, cam.id, r.admin), viewer(r, cam.id, r.admin)]), 2);
  // per user: the second session gets one more, not two
  assert.equal(await opened([viewer(r, cam.id, second), viewer(r, cam.id, second)]), 1);
  // per share link, no maxViewers on it
  const share = await r.api('POST', `/api/cameras/${cam.id}/shares`, { expiresIn: 3600, label: 'open' }, r.admin);
  assert.equal(share.status, 201);
  const shareToken = share.json.token as string;
  assert.equal(await opened([viewer(r, cam.id, shareToken), viewer(r, cam.id, shareToken), viewer(r, cam.id, shareToken)]), 2);
  // per address: 5 open now; another link gets one before the address is full
  const other = (await r.api('POST', `/api/cameras/${cam.id}/shares`, { expiresIn: 3600, label: 'b' }, r.admin)).json.token as string;
  assert.equal(await opened([viewer(r, cam.id, other), viewer(r, cam.id, other)]), 1);
});

test('5c. a share link with maxViewers still stops at its own number', async () => {
  const r = await startTestRelay();
  const cam = await r.camera();
  const share = await r.api('POST', `/api/cameras/${cam.id}/shares`, { expiresIn: 3600, label: 'one', maxViewers: 1 }, r.admin);
  const token = share.json.token as string;
  assert.deepEqual(await viewer(r, cam.id, token).opened, { kind: 'open' });
  const second = await viewer(r, cam.id, token).opened;
  assert.equal(second.kind === 'refused' && second.code, 'too_many_viewers');
});

test('5d. upgrades are rate-limited per address (WS_UPGRADES_PER_MINUTE), bad credentials included', async () => {
  const r = await startTestRelay({ WS_UPGRADES_PER_MINUTE: '5' });
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => agent(r, 'pcd_not-a-real-credential').opened));
  const statuses = outcomes.map((o) => (o.kind === 'refused' ? o.status : 101));
  assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join(','));
  assert.equal(statuses.filter((s) => s === 429).length, 3, statuses.join(','));
  assert.equal(r.logs.filter((l) => l.msg === 'websocket upgrade refused' && l.status === 429).length, 1, 'one log line per burst');
});

test('5e. agent sockets are capped per address (MAX_AGENTS_PER_ADDRESS)', async () => {
  const r = await startTestRelay({ MAX_AGENTS_PER_ADDRESS: '2' });
  const cams = [await r.camera('a'), await r.camera('b'), await r.camera('c')];
  const a = agent(r, cams[0]!.credential);
  const b = agent(r, cams[1]!.credential);
  assert.equal(await opened([a, b]), 2);
  hello(a.ws);
  hello(b.ws);
  const c = await agent(r, cams[2]!.credential).opened;
  assert.equal(c.kind === 'refused' && c.status, 429);
  // The others keep streaming.
  await until(() => online(r, cams[0]!.id), 2_000, 'camera a online');
});

// ---- 7. CSP ----------------------------------------------------------------------------------------

test("7. the page's CSP lets scripts connect to the relay itself only", async () => {
  const { createWebRoutes } = await import('../src/routes/web.ts');
  const r = await startTestRelay({ PUBLIC_URL: 'https://cams.example:8443' }, { web: await createWebRoutes({ publicUrl: 'https://cams.example:8443' }) });
  const res = await fetch(`${r.url}/`);
  const csp = res.headers.get('content-security-policy') ?? '';
  const connect = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('connect-src'));
  assert.equal(connect, "connect-src 'self' wss://cams.example:8443");
  const plain = await createWebRoutes();
  const header = (await plain.request('/')).headers.get('content-security-policy') ?? '';
  assert.match(header, /connect-src 'self'(;|$)/);
});

// ---- 10. /metrics --------------------------------------------------------------------------------------

test('10a. /metrics is not on the public port; METRICS_TOKEN opens it to a bearer', async () => {
  const r = await startTestRelay({ METRICS_TOKEN: 'scrape-secret-0123456789' });
  assert.equal((await fetch(`${r.url}/metrics`)).status, 404);
  assert.equal((await fetch(`${r.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 404);
  const ok = await fetch(`${r.url}/metrics`, { headers: { authorization: 'Bearer scrape-secret-0123456789' } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /picam_/);
  const bare = await startTestRelay();
  assert.equal((await fetch(`${bare.url}/metrics`)).status, 404);
  assert.equal((await fetch(`${bare.url}/healthz`)).status, 200, 'health stays public');
});

test('10b. METRICS_PORT serves /metrics on its own listener (loopback by default)', async () => {
  const r = await startTestRelay({ METRICS_PORT: '0' });
  assert.equal((await fetch(`${r.url}/metrics`)).status, 404);
  const metricsUrl = r.relay.metricsUrl;
  assert.ok(metricsUrl, 'the relay says where its metrics listener is');
  assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  const res = await fetch(`${metricsUrl}/metrics`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /picam_/);
  assert.equal((await fetch(`${metricsUrl}/api/auth/me`)).status, 404, 'nothing but metrics there');
});
