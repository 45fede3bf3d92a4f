import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { addressKey } from '../src/auth/rate-limit.ts';
import { loadConfig, type RelayConfig } from '../src/config.ts';
import { runKeysCommand, type CliIo } from '../src/users-cli.ts';
import { ADMIN_PASSWORD, createHarness, type Harness } from './accounts-harness.ts';

/**
 * Attack suite, part two (issue 18 items 2, 3, 6, 8, 9): each case drives a relay served on
 * loopback over real HTTP (the accounts harness's app behind @hono/node-server, with its
 * settable clock) and asserts what an attacker or the owner would see: 401 vs 429, a token that
 * stops working, rows that are gone. TRUST_PROXY=1 lets a case speak for many client addresses
 * through X-Forwarded-For from loopback, as a reverse proxy would.
 * Which attempts reached scrypt is read from the answers: a 401 was hashed, a 429 was refused before.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

interface Served {
  h: Harness;
  url: string;
  login(username: string, password: string, address: string): Promise<{ status: number; retryAfter: string | null; token?: string }>;
}

/** The harness's relay on 127.0.0.1 with TRUST_PROXY=1, plus any extra environment. */
async function relay(env: Record<string, string> = {}, scryptCost = 4): Promise<Served> {
  const parsed = loadConfig({ TRUST_PROXY: '1', LOGIN_HASHES_PER_SECOND: '1000', ...env });
  // The harness keeps its own DATA_DIR, PUBLIC_URL and admin password.
  const config: Partial<RelayConfig> = Object.fromEntries(
    Object.entries(parsed).filter(([k, v]) => v !== undefined && !['dataDir', 'publicUrl', 'adminPassword'].includes(k)),
  );
  const h = await createHarness(config, scryptCost);
  const server = serve({ fetch: h.app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve())).then(() => h.close());
  });
  return {
    h,
    url,
    async login(username, password, address) {
      const res = await fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ username, password }),
      });
      const body = (await res.json()) as { token?: string };
      return { status: res.status, retryAfter: res.headers.get('retry-after'), token: body.token };
    },
  };
}

function statuses(results: Array<{ status: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

function cliIo(): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    stdout: (t: string) => void (sink.out += t),
    stderr: (t: string) => void (sink.err += t),
    stdin: Readable.from([]),
  };
  return sink;
}

// ---- item 2: lockout by strangers

test('a stranger guessing wrong never refuses the owner: limits are per username + address', async () => {
  const { login } = await relay();
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.7')).status, 200, 'the owner signs in once from home');
  for (let i = 0; i < 5; i++) assert.equal((await login('admin', 'wrong-guess', '203.0.113.5')).status, 401);
  const sixth = await login('admin', 'wrong-guess', '203.0.113.5');
  assert.equal(sixth.status, 429, 'the guessing address is throttled');
  assert.ok(Number(sixth.retryAfter) > 0);
  assert.equal((await login('admin', ADMIN_PASSWORD, '203.0.113.5')).status, 429, 'even with the right password from there');

  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.8')).status, 200, 'the owner from a new address is not locked out');

  // Many addresses: past the username's backoff threshold the owner still signs in.
  for (let a = 20; a < 24; a++) {
    for (let i = 0; i < 5; i++) assert.ok([401, 429].includes((await login('admin', 'wrong-guess', `203.0.113.${a}`)).status));
  }
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.7')).status, 200, 'a known address passes the backoff');
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.8')).status, 200, 'so does the other known one');
});

test("during a username's backoff a new address is throttled for that username only, and a correct password is never refused from a known address", async () => {
  const { login } = await relay();
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.7')).status, 200);
  for (let a = 0; a < 2; a++) {
    for (let i = 0; i < 5; i++) assert.equal((await login('admin', 'wrong-guess', `203.0.113.${a}`)).status, 401);
  }
  // 10 failures from 2 addresses: the username is in backoff. The next stranger takes the slot...
  assert.equal((await login('admin', 'wrong-guess', '203.0.113.50')).status, 401);
  // ...and further new addresses wait for the next one (no hash)
  const next = await login('admin', 'wrong-guess', '203.0.113.51');
  assert.equal(next.status, 429);
  assert.ok(Number(next.retryAfter) >= 1);
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.7')).status, 200, 'the owner at home is not affected');
  assert.equal((await login('ghost', 'wrong-guess', '203.0.113.51')).status, 401, 'other usernames are not affected');
});

// ---- item 3: race, IPv6, global hash cap

test('simultaneous guesses from one address are counted when admitted: 8 at once, limit 5, only 5 are hashed', async () => {
  // A real scrypt cost, so all 8 are in flight before the first hash ends.
  const { login } = await relay({}, 14);
  const results = await Promise.all(Array.from({ length: 8 }, () => login('admin', 'wrong-guess', '203.0.113.9')));
  assert.deepEqual(statuses(results), { 401: 5, 429: 3 });
});

test('IPv6 clients are keyed by their /64: a new address in the same /64 is the same client', async () => {
  const { login } = await relay();
  for (let i = 1; i <= 5; i++) assert.equal((await login('admin', 'wrong-guess', `2001:db8:1:2::${i}`)).status, 401);
  assert.equal((await login('admin', 'wrong-guess', '2001:db8:1:2:ffff:ffff:ffff:9')).status, 429, 'same /64');
  assert.equal((await login('admin', 'wrong-guess', '2001:db8:1:3::1')).status, 401, 'another /64 is another client');
  assert.equal(addressKey('2001:DB8:1:2:aaaa::1'), addressKey('2001:db8:0001:0002::ffff'));
  assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
});

test('a global cap on password hashes per second: over it, 429 with Retry-After; a known address still signs in', async () => {
  const { h, login } = await relay({ LOGIN_HASHES_PER_SECOND: '2' });
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.7')).status, 200);
  h.clock.now += 1000;
  const guesses = await Promise.all([1, 2, 3].map((i) => login(`user${i}`, 'wrong-guess', `203.0.113.${i}`)));
  assert.deepEqual(statuses(guesses), { 401: 2, 429: 1 });
  const refused = guesses.find((g) => g.status === 429);
  assert.ok(Number(refused?.retryAfter) >= 1, 'Retry-After');
  assert.equal((await login('admin', ADMIN_PASSWORD, '198.51.100.7')).status, 200, 'the owner at a known address is not refused');
  h.clock.now += 1000;
  assert.equal((await login('user4', 'wrong-guess', '203.0.113.4')).status, 401, 'a second later, hashing again');
});

// ---- item 6: removed signing keys

test('a deleted signing key stops verifying at once, without a signing in between', async () => {
  const { h, url, login } = await relay();
  const { token } = await login('admin', ADMIN_PASSWORD, '198.51.100.7');
  const me = async (t: string | undefined) => (await fetch(`${url}/api/auth/me`, { headers: { authorization: `Bearer ${t}` } })).status;
  assert.equal(await me(token), 200);
  const kid = JSON.parse(Buffer.from(token!.split('.')[0]!, 'base64url').toString()).kid as string;
  const dir = join(h.config.dataDir, 'keys');
  const files = h.config.databaseUrl === undefined;
  const [oldFile] = files ? readdirSync(dir).filter((f) => f.endsWith('.jwk')) : [kid];
  assert.ok(oldFile);
  const rotate = cliIo();
  assert.equal(await runKeysCommand(['rotate'], h.config, rotate), 0, rotate.err);
  assert.equal(await me(token), 200, 'rotation alone logs nobody out');
  // Deleted by hand, behind the relay's back: its file, or with Postgres its row (by any node).
  if (files) rmSync(join(dir, oldFile));
  else await h.query(`DELETE FROM signing_keys WHERE kid = '${kid}'`);
  assert.equal(await me(token), 401, 'a token signed by a key that is gone');
});

test('keys remove <kid>: the key stops verifying in the running relay; the last key cannot be removed', async () => {
  const { h, url, login } = await relay();
  const { token } = await login('admin', ADMIN_PASSWORD, '198.51.100.7');
  const me = async (t: string | undefined) => (await fetch(`${url}/api/auth/me`, { headers: { authorization: `Bearer ${t}` } })).status;
  const kid = JSON.parse(Buffer.from(token!.split('.')[0]!, 'base64url').toString()).kid as string;
  const only = cliIo();
  assert.equal(await runKeysCommand(['remove', kid], h.config, only), 1);
  assert.match(only.err, /last signing key/);
  assert.equal(await me(token), 200);

  // A live viewer let in with that token, re-checked later by the relay's sweep.
  const cam = await h.camera('Porch');
  const grant = await h.accounts.access.authorizeViewer({
    cameraId: cam.id,
    url: new URL(`http://relay.internal/api/cameras/${cam.id}/live?token=${token}`),
    headers: { host: 'relay.internal' },
    address: '198.51.100.7',
  });
  assert.equal(await h.accounts.access.isGrantValid(grant), true);

  assert.equal(await runKeysCommand(['rotate'], h.config, cliIo()), 0);
  assert.equal(await h.accounts.access.isGrantValid(grant), true, 'rotation cuts nobody');
  const removed = cliIo();
  assert.equal(await runKeysCommand(['remove', kid], h.config, removed), 0, removed.err);
  assert.match(removed.out, new RegExp(`removed signing key ${kid}`));
  assert.equal(await me(token), 401);
  assert.equal(await h.accounts.access.isGrantValid(grant), false, 'its live viewers are cut at the next re-check');
  const fresh = await login('admin', ADMIN_PASSWORD, '198.51.100.7');
  assert.equal(await me(fresh.token), 200, 'the remaining key signs and verifies');
  const unknown = cliIo();
  assert.equal(await runKeysCommand(['remove', 'nosuchkid'], h.config, unknown), 1);
  assert.match(unknown.err, /no signing key nosuchkid/);
  const audit = await h.query("SELECT target FROM audit_log WHERE action = 'keys.remove'");
  assert.deepEqual(audit, [{ target: kid }]);
});

// ---- item 8: enrollment token off the command line

function agent(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/src/cli.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(stdin ?? '');
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

test('enroll takes the token from stdin (--token -) or a file (--token-file); the relay hands out the stdin form', async () => {
  const { h, url } = await relay();
  const admin = await h.adminToken();
  const add = async (name: string) => {
    const res = await fetch(`${url}/api/cameras`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, 'x-forwarded-for': '198.51.100.1' },
      body: JSON.stringify({ name }),
    });
    assert.equal(res.status, 201);
    return ((await res.json()) as { enrollment: { token: string; command: string } }).enrollment;
  };
  const dir = mkdtempSync(join(tmpdir(), 'picam-enroll-stdin-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  const first = await add('Garden');
  assert.ok(!first.command.includes(first.token), `the command shown carries no token: ${first.command}`);
  assert.match(first.command, /^picam-agent enroll --relay \S+ --token -$/);
  const viaStdin = await agent(['enroll', '--relay', url, '--token', '-', '--config', join(dir, 'a.json')], `${first.token}\n`);
  assert.equal(viaStdin.code, 0, viaStdin.out);
  assert.match(JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8')).credential as string, /^pcd_/);

  const second = await add('Porch');
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${second.token}\n`, { mode: 0o600 });
  const viaFile = await agent(['enroll', '--relay', url, '--token-file', tokenFile, '--config', join(dir, 'b.json')]);
  assert.equal(viaFile.code, 0, viaFile.out);
  assert.match(JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8')).credential as string, /^pcd_/);

  const both = await agent(['enroll', '--relay', url, '--token', 'x', '--token-file', tokenFile, '--config', join(dir, 'c.json')]);
  assert.equal(both.code, 1);
  assert.match(both.out, /--token or --token-file, not both/);
  const empty = await agent(['enroll', '--relay', url, '--token', '-', '--config', join(dir, 'c.json')], '');
  assert.equal(empty.code, 1);
  assert.match(empty.out, /no enrollment token on standard input/);
});

// ---- item 9: housekeeping

test('housekeeping: old audit rows, expired sessions and enrollment tokens are pruned on schedule', async () => {
  const { h, url, login } = await relay({ AUDIT_RETAIN_DAYS: '30' });
  const count = async (sql: string) => Number((await h.query<{ n: unknown }>(sql))[0]?.n);
  const { token } = await login('admin', ADMIN_PASSWORD, '198.51.100.7');
  const old = await h.camera('Old'); // an enrollment token that will expire unused
  assert.equal(await count('SELECT count(*) AS n FROM sessions'), 2);
  assert.equal(await count('SELECT count(*) AS n FROM enrollment_tokens'), 1);
  // An hour after expiry the token's row is still there, so its holder hears "expired", not "unknown".
  h.clock.now += h.config.enrollmentTtlSeconds * 1000 + 3600_000;
  assert.equal((await h.accounts.housekeeping()).enrollments, 0);
  const late = await fetch(`${url}/api/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: old.token }) });
  assert.equal(late.status, 410);
  const auditBefore = await count('SELECT count(*) AS n FROM audit_log');
  assert.ok(auditBefore >= 4);

  h.clock.now += h.config.sessionTtlSeconds * 1000 + 1000;
  const pruned = await h.accounts.housekeeping();
  assert.deepEqual({ sessions: pruned.sessions, enrollments: pruned.enrollments, audit: pruned.audit }, { sessions: 2, enrollments: 1, audit: 0 });
  assert.equal(await count('SELECT count(*) AS n FROM sessions'), 0);
  assert.equal(await count('SELECT count(*) AS n FROM enrollment_tokens'), 0);
  assert.equal(await count('SELECT count(*) AS n FROM audit_log'), auditBefore, 'audit rows younger than 30 days stay');
  assert.ok(token);

  h.clock.now += 30 * 24 * 3600 * 1000;
  assert.equal((await h.accounts.housekeeping()).audit, auditBefore);
  assert.equal(await count('SELECT count(*) AS n FROM audit_log'), 0);
});

test('failed logins for unknown usernames do not grow the audit log without bound', async () => {
  const { h, login } = await relay();
  const failures = async () =>
    Number((await h.query<{ n: unknown }>("SELECT count(*) AS n FROM audit_log WHERE action = 'login.failure'"))[0]?.n);
  for (let i = 0; i < 40; i++) assert.equal((await login(`ghost${i}`, 'wrong-guess', `203.0.113.${i}`)).status, 401);
  const written = await failures();
  assert.ok(written <= 10, `${written} rows for 40 unknown-user failures`);
  // a known username's failure is always written
  assert.equal((await login('admin', 'wrong-guess', '203.0.113.200')).status, 401);
  const [last] = await h.query("SELECT target FROM audit_log WHERE action = 'login.failure' ORDER BY id DESC LIMIT 1");
  assert.deepEqual(last, { target: 'admin' });
  // the suppressed ones are summed up in one row once the minute is over
  h.clock.now += 61_000;
  assert.equal((await login('ghost-late', 'wrong-guess', '203.0.113.201')).status, 401);
  const [summary] = await h.query<{ detail: string }>("SELECT detail FROM audit_log WHERE action = 'login.failure.suppressed'");
  assert.ok(summary, 'a summary row');
  assert.equal((JSON.parse(summary.detail) as { count: number }).count, 40 - written);
});

test('removing a user revokes the share links they made', async () => {
  const { h, url } = await relay();
  const admin = await h.adminToken();
  const alice = await h.request('POST', '/api/users', { token: admin, body: { username: 'alice', password: 'alice-password', role: 'admin' } });
  assert.equal(alice.status, 201);
  const aliceToken = await h.login('alice', 'alice-password', '198.51.100.30');
  const cam = await h.camera('Porch');
  const made = await h.request('POST', `/api/cameras/${cam.id}/shares`, { token: aliceToken, body: { expiresIn: 3600, label: 'neighbour' } });
  assert.equal(made.status, 201);
  const share = { id: (made.json.share as { id: string }).id, token: made.json.token as string };
  const shareStatus = async () => (await fetch(`${url}/api/share`, { headers: { authorization: `Bearer ${share.token}` } })).status;
  assert.equal(await shareStatus(), 200);

  const removed = await h.request('DELETE', `/api/users/${(alice.json.user as { id: string }).id}`, { token: admin });
  assert.equal(removed.status, 200);
  assert.deepEqual(removed.json, { revokedShares: [share.id] });
  assert.notEqual(await shareStatus(), 200, "the removed user's link no longer opens");
  const listed = await h.request('GET', `/api/cameras/${cam.id}/shares`, { token: admin });
  assert.equal((listed.json.shares as Array<{ id: string; state: string }>).find((s) => s.id === share.id)?.state, 'revoked');
  assert.ok(h.live.calls.some(([call, id]) => call === 'grantRevoked' && id === share.id), 'its live viewers are cut');
});
