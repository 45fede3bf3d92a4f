import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { WebSocket } from 'ws';
import { loadConfig } from '../src/config.ts';
import { runKeysCommand, type CliIo } from '../src/users-cli.ts';
import { postgresOrSkip } from '../../test/helpers/postgres.ts';
import { startRelayProcess } from '../../test/helpers/relay-process.ts';
import { ScriptedAgent } from '../../test/helpers/scripted-agent.ts';
import { WsViewer } from '../../test/helpers/ws-viewer.ts';

/**
 * The registry on Postgres with real relay processes (DATABASE_URL): nodes starting together on an
 * empty database, sessions and signing keys shared by them, and what a node does while Postgres
 * is down. The accounts tests run on Postgres too with PICAM_TEST_DATABASE=postgres.
 */

const JOURNAL = new URL('../../migrations/postgres/meta/_journal.json', import.meta.url);

async function sql<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

function cliIo(): CliIo & { out: string; err: string } {
  const sink = { out: '', err: '', stdout: (t: string) => void (sink.out += t), stderr: (t: string) => void (sink.err += t), stdin: Readable.from([]) };
  return sink;
}

const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

test('two relays started at once on one empty database both come up, migrate it once, and share sessions, cameras and signing keys', async (t) => {
  const postgres = await postgresOrSkip(t);
  if (!postgres) return;
  const url = await postgres.createDatabase();
  const [a, b] = await Promise.all([startRelayProcess({ DATABASE_URL: url, NODE_ID: 'node-a' }), startRelayProcess({ DATABASE_URL: url, NODE_ID: 'node-b' })]);
  t.after(() => Promise.all([a.stop(), b.stop()]));

  const journal = JSON.parse(readFileSync(JOURNAL, 'utf8')) as { entries: unknown[] };
  const applied = await sql<{ n: number }>(url, 'select count(*)::int as n from drizzle.__drizzle_migrations');
  assert.equal(applied[0]?.n, journal.entries.length, 'each migration applied once');
  const admins = await sql<{ n: number }>(url, "select count(*)::int as n from users where username = 'admin'");
  assert.equal(admins[0]?.n, 1, 'one admin, whichever node made it');

  // A session signed on one node is good on the other, both ways.
  assert.equal((await b.api('GET', '/api/auth/me', undefined, a.adminToken)).status, 200);
  assert.equal((await a.api('GET', '/api/auth/me', undefined, b.adminToken)).status, 200);
  // One registry: a camera made through A is B's too, and B's viewer is let in with A's session.
  const camera = await a.createCamera('Porch');
  const listed = await b.api('GET', '/api/cameras', undefined, b.adminToken);
  assert.deepEqual(
    (listed.json.cameras as Array<{ id: string }>).map((c) => c.id),
    [camera.id],
  );
  const viewer = await WsViewer.connect(b.wsUrl, camera.id, a.adminToken);
  assert.equal(viewer.ws.readyState, WebSocket.OPEN);
  await viewer.close();

  // `keys rotate` then `keys remove` from an operator's shell: the removed key stops verifying on both nodes at once.
  const dataDir = mkdtempSync(join(tmpdir(), 'picam-keys-cli-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const cli = loadConfig({ DATABASE_URL: url, DATA_DIR: dataDir });
  const rotated = cliIo();
  assert.equal(await runKeysCommand(['rotate'], cli, rotated), 0, rotated.err);
  const kid = kidOf(a.adminToken);
  const removed = cliIo();
  assert.equal(await runKeysCommand(['remove', kid], cli, removed), 0, removed.err);
  assert.equal((await a.api('GET', '/api/auth/me', undefined, a.adminToken)).status, 401);
  assert.equal((await b.api('GET', '/api/auth/me', undefined, a.adminToken)).status, 401);
  // Both still sign (with a key that is still there) and verify each other's new sessions.
  const again = await a.api('POST', '/api/auth/login', { username: 'admin', password: 'relay-test-password' });
  assert.equal(again.status, 200);
  assert.notEqual(kidOf(again.json.token as string), kid);
  assert.equal((await b.api('GET', '/api/auth/me', undefined, again.json.token as string)).status, 200);
});

test('Postgres down: logins and writes answer 503 database_unavailable and /healthz says so, a running stream goes on; back up, everything works again', async (t) => {
  const postgres = await postgresOrSkip(t);
  if (!postgres) return;
  const relay = await startRelayProcess({ DATABASE_URL: await postgres.createDatabase() });
  t.after(() => relay.stop());
  const camera = await relay.createCamera('Porch');
  const agent = await ScriptedAgent.connect(relay.wsUrl, camera.credential);
  const viewer = await WsViewer.connect(relay.wsUrl, camera.id, relay.adminToken);
  let playing = true;
  // Ends when the test stops playing or the relay stops (its socket closes mid-play then).
  const playLoop = (async () => {
    while (playing && agent.ws.readyState === WebSocket.OPEN) await agent.play(15, 30);
  })().catch(() => {});
  t.after(async () => {
    playing = false;
    await playLoop;
    await agent.close();
  });
  await viewer.untilVideoFrames(5);

  await postgres.stopServer();
  const login = await relay.api('POST', '/api/auth/login', { username: 'admin', password: 'relay-test-password' });
  assert.equal(login.status, 503);
  assert.equal(login.json.error.code, 'database_unavailable');
  assert.match(login.json.error.message as string, /database/);
  const write = await relay.api('POST', '/api/cameras', { name: 'Hall' }, relay.adminToken);
  assert.equal(write.status, 503);
  assert.equal(write.json.error.code, 'database_unavailable');
  const health = await fetch(`${relay.url}/healthz`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { reason: string }).reason, 'database');
  const refused = await WsViewer.refusal(`${relay.wsUrl}/api/cameras/${camera.id}/live`, ['picam.v1', `picam.token.${relay.adminToken}`]);
  assert.equal(refused.status, 503, 'a new viewer is told to come back, not that its session is bad');
  // The stream that was running goes on: 30 more frames reach its viewer with the database away.
  const seen = viewer.videoFrames().length;
  await viewer.untilVideoFrames(seen + 30);
  assert.equal(viewer.ws.readyState, WebSocket.OPEN);

  await postgres.startServer();
  const back = await relay.api('POST', '/api/auth/login', { username: 'admin', password: 'relay-test-password' });
  assert.equal(back.status, 200);
  assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
  assert.equal(relay.child.exitCode, null, 'the relay never stopped');
  assert.doesNotMatch(relay.output(), /unhandled|uncaught/i);
});
