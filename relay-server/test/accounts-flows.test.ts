import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { decodeProtectedHeader } from 'jose';
import { TrustedProxies } from '../src/client-address.ts';
import { createAccounts } from '../src/accounts.ts';
import { createLogger } from '../src/logger.ts';
import type { ViewerUpgradeRequest } from '../src/services.ts';
import { ADMIN_PASSWORD, PUBLIC_ORIGIN, StubLive, createHarness, type Harness } from './accounts-harness.ts';

/** Happy paths of the accounts side, end to end through the Hono app and a real SQLite file. */

const harnesses: Harness[] = [];
after(() => Promise.all(harnesses.map((h) => h.close())));
async function harness(...args: Parameters<typeof createHarness>): Promise<Harness> {
  const h = await createHarness(...args);
  harnesses.push(h);
  return h;
}

const jti = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }).jti;

function upgrade(cameraId: string, headers: ViewerUpgradeRequest['headers'], query = ''): ViewerUpgradeRequest {
  return { cameraId, url: new URL(`http://relay.internal/api/cameras/${cameraId}/live${query}`), headers, address: '192.0.2.5' };
}

test('login sets a HttpOnly, SameSite=Strict session cookie and answers token + user', async () => {
  const h = await harness();
  const res = await h.request('POST', '/api/auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD } });
  assert.equal(res.status, 200);
  const cookie = res.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^picam_session=[\w-]+\.[\w-]+\.[\w-]+;/);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\//);
  assert.match(cookie, /Max-Age=\d+/);
  assert.doesNotMatch(cookie, /Secure/, 'plain http without a trusted proxy');
  assert.equal(res.json.expiresAt, h.clock.now + h.config.sessionTtlSeconds * 1000);
  assert.deepEqual(Object.keys(res.json.user as object).sort(), ['id', 'role', 'username']);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  const token = res.json.token as string;
  assert.equal(decodeProtectedHeader(token).typ, 'session+jwt');
  assert.equal(decodeProtectedHeader(token).alg, 'EdDSA');

  // The cookie authenticates reads, and writes from our own origin (PUBLIC_URL's or the Host's).
  assert.equal((await h.request('GET', '/api/auth/me', { cookie: token })).status, 200);
  const own = await h.request('POST', '/api/cameras', { cookie: token, origin: PUBLIC_ORIGIN, body: { name: 'a' } });
  assert.equal(own.status, 201);
  const host = await h.request('POST', '/api/cameras', { cookie: token, origin: 'http://relay.internal', body: { name: 'b' }, headers: { host: 'relay.internal' } });
  assert.equal(host.status, 201);
});

test('the cookie is Secure behind a trusted https proxy, not with an untrusted header', async () => {
  const trusted = await harness({ trustProxy: TrustedProxies.parse('1') });
  const login = { body: { username: 'admin', password: ADMIN_PASSWORD }, headers: { 'x-forwarded-proto': 'https' }, address: '127.0.0.1' };
  assert.match((await trusted.request('POST', '/api/auth/login', login)).headers.get('set-cookie') ?? '', /Secure/);
  const untrusted = await harness({ trustProxy: TrustedProxies.none });
  assert.doesNotMatch((await untrusted.request('POST', '/api/auth/login', login)).headers.get('set-cookie') ?? '', /Secure/);
});

test('logout revokes the session, clears the cookie and cuts its viewers', async () => {
  const h = await harness();
  const token = await h.login('admin', ADMIN_PASSWORD);
  const res = await h.request('POST', '/api/auth/logout', { token });
  assert.equal(res.status, 204);
  assert.match(res.headers.get('set-cookie') ?? '', /picam_session=;.*Max-Age=0/);
  assert.deepEqual(h.live.calls, [['grantRevoked', jti(token)]]);
  assert.equal((await h.request('GET', '/api/auth/me', { token })).status, 401);
});

test('password change revokes the other sessions only; the new password works', async () => {
  const h = await harness();
  const a = await h.login('admin', ADMIN_PASSWORD, '10.1.0.1');
  const b = await h.login('admin', ADMIN_PASSWORD, '10.1.0.2');
  const wrong = await h.request('POST', '/api/auth/password', { token: a, body: { currentPassword: 'nope-nope', newPassword: 'new password 1' } });
  assert.equal(wrong.status, 401);
  const res = await h.request('POST', '/api/auth/password', { token: a, body: { currentPassword: ADMIN_PASSWORD, newPassword: 'new password 1' } });
  assert.equal(res.status, 204);
  assert.equal((await h.request('GET', '/api/auth/me', { token: a })).status, 200);
  assert.equal((await h.request('GET', '/api/auth/me', { token: b })).status, 401);
  assert.deepEqual(h.live.calls, [['grantRevoked', jti(b)]]);
  const old = await h.request('POST', '/api/auth/login', { body: { username: 'admin', password: ADMIN_PASSWORD }, address: '10.1.0.3' });
  assert.equal(old.status, 401);
  await h.login('admin', 'new password 1', '10.1.0.4');
});

test('enrollment: create -> exact command -> enroll -> agent authenticates; re-enrollment revokes at once', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  const created = await h.request('POST', '/api/cameras', { token: admin, body: { name: 'Garden', settings: { framerate: 15, onDemand: true } } });
  assert.equal(created.status, 201);
  const camera = created.json.camera as { id: string; enrolled: boolean; settings: { framerate: number; width: number }; status: { online: boolean } };
  const enrollment = created.json.enrollment as { token: string; expiresAt: number; command: string };
  assert.match(camera.id, /^[a-z2-9]{10}$/);
  assert.equal(camera.enrolled, false);
  assert.equal(camera.settings.framerate, 15);
  assert.equal(camera.settings.width, 1280);
  assert.equal(camera.status.online, false);
  assert.match(enrollment.token, /^[\w-]{43}$/);
  assert.equal(enrollment.command, `picam-agent enroll --relay ${PUBLIC_ORIGIN} --token -`);
  assert.equal(enrollment.expiresAt, h.clock.now + h.config.enrollmentTtlSeconds * 1000);
  const stored = await h.query<{ token_hash: string }>('SELECT token_hash FROM enrollment_tokens');
  assert.ok(stored.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash) && r.token_hash !== enrollment.token));

  const enrolled = await h.request('POST', '/api/enroll', { body: { token: enrollment.token } });
  assert.equal(enrolled.status, 200);
  const { cameraId, name, credential, settings } = enrolled.json as { cameraId: string; name: string; credential: string; settings: { onDemand: boolean } };
  assert.equal(cameraId, camera.id);
  assert.equal(name, 'Garden');
  assert.match(credential, /^pcd_[\w-]{43}$/);
  assert.equal(settings.onDemand, true);
  assert.deepEqual(await h.accounts.access.authenticateAgent(`Bearer ${credential}`), { cameraId });
  assert.equal(((await h.request('GET', `/api/cameras/${cameraId}`, { token: admin })).json.camera as { enrolled: boolean }).enrolled, true);

  const again = await h.request('POST', `/api/cameras/${cameraId}/enrollment`, { token: admin });
  assert.equal(again.status, 201);
  assert.deepEqual(h.live.calls, [['credentialRevoked', cameraId]]);
  await assert.rejects(h.accounts.access.authenticateAgent(`Bearer ${credential}`), { status: 401 });
  const fresh = await h.enroll((again.json.enrollment as { token: string }).token);
  assert.deepEqual(await h.accounts.access.authenticateAgent(`Bearer ${fresh}`), { cameraId });
});

test('without PUBLIC_URL the enroll command and share URL use the request origin', async () => {
  const h = await harness({ publicUrl: undefined });
  const res = await h.request('POST', '/api/cameras', { token: await h.adminToken(), body: { name: 'x' }, headers: { host: 'cams.lan:8080' } });
  assert.match((res.json.enrollment as { command: string }).command, /^picam-agent enroll --relay http:\/\/cams\.lan:8080 --token -$/);
});

test('concurrent redemptions of one enrollment token: exactly one wins', async () => {
  const h = await harness();
  const cam = await h.camera();
  const results = await Promise.all(
    Array.from({ length: 5 }, (_, i) => h.request('POST', '/api/enroll', { body: { token: cam.token }, address: `10.2.0.${i}` })),
  );
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 401, 401, 401, 401]);
});

test('cameras: patch pushes settings, delete cuts the agent, registry reads the table', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  const cam = await h.camera('Hall');
  const patched = await h.request('PATCH', `/api/cameras/${cam.id}`, { token: admin, body: { name: 'Hallway', settings: { bitrate: 1_000_000 } } });
  assert.equal(patched.status, 200);
  assert.equal((patched.json.camera as { name: string }).name, 'Hallway');
  const [call] = h.live.calls;
  assert.equal(call?.[0], 'pushSettings');
  assert.equal((call?.[2] as { bitrate: number; width: number }).bitrate, 1_000_000);
  assert.equal((await h.accounts.registry.get(cam.id))?.settings.bitrate, 1_000_000);
  assert.equal((await h.accounts.registry.get(cam.id))?.name, 'Hallway');

  const bad = await h.request('PATCH', `/api/cameras/${cam.id}`, { token: admin, body: { settings: { width: 1 } } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error?.code, 'validation_failed');

  await h.accounts.registry.markSeen(cam.id, 1234);
  h.live.statuses.set(cam.id, { online: true, viewers: 3, video: null, audio: null, bitrate: 1, framerate: 30, camera: 'running', agentVersion: '1', connectedAt: 1, lastFrameAt: 2 });
  const got = (await h.request('GET', `/api/cameras/${cam.id}`, { token: admin })).json.camera as { lastSeenAt: number; status: { viewers: number } };
  assert.equal(got.lastSeenAt, 1234);
  assert.equal(got.status.viewers, 3);

  assert.equal((await h.request('DELETE', `/api/cameras/${cam.id}`, { token: admin })).status, 204);
  assert.deepEqual(h.live.calls.at(-1), ['cameraDeleted', cam.id]);
  assert.equal(await h.accounts.registry.get(cam.id), undefined);
  assert.equal((await h.request('GET', `/api/cameras/${cam.id}`, { token: admin })).json.error?.code, 'camera_not_found');
});

test('viewers list only granted cameras; grant changes re-check their viewers', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  const a = await h.camera('A');
  const b = await h.camera('B');
  const v = await h.viewer('vera', [a.id]);
  const list = (await h.request('GET', '/api/cameras', { token: v.token })).json.cameras as Array<{ id: string }>;
  assert.deepEqual(list.map((c) => c.id), [a.id]);
  const patched = await h.request('PATCH', `/api/users/${v.id}`, { token: admin, body: { cameraIds: [b.id] } });
  assert.deepEqual((patched.json.user as { cameraIds: string[] }).cameraIds, [b.id]);
  assert.deepEqual(h.live.calls, [['recheckUser', v.id]]);
  const users = (await h.request('GET', '/api/users', { token: admin })).json.users as Array<{ username: string }>;
  assert.deepEqual(users.map((u) => u.username), ['admin', 'vera']);
  const adminId = ((await h.request('GET', '/api/auth/me', { token: admin })).json.user as { id: string }).id;
  const last = await h.request('DELETE', `/api/users/${adminId}`, { token: admin });
  assert.equal(last.status, 409);
  const dup = await h.request('POST', '/api/users', { token: admin, body: { username: 'VERA', password: 'whatever1', role: 'viewer' } });
  assert.equal(dup.status, 409);
});

test('share links: create -> URL -> viewer grant -> list -> revoke', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  const cam = await h.camera('Door');
  const created = await h.request('POST', `/api/cameras/${cam.id}/shares`, { token: admin, body: { expiresIn: 600, label: 'Grandma', maxViewers: 3 } });
  assert.equal(created.status, 201);
  const share = created.json.share as { id: string; expiresAt: number; state: string; viewers: number; maxViewers: number };
  const token = created.json.token as string;
  assert.equal(created.json.url, `${PUBLIC_ORIGIN}/s/${share.id}#${token}`);
  assert.equal(share.state, 'active');
  assert.equal(share.expiresAt, h.clock.now + 600_000);
  assert.equal(decodeProtectedHeader(token).typ, 'share+jwt');

  const page = await h.request('GET', '/api/share', { token });
  assert.deepEqual(page.json, { share: { id: share.id, label: 'Grandma', expiresAt: share.expiresAt, clip: null }, camera: { id: cam.id, name: 'Door' } });

  const grant = await h.accounts.access.authorizeViewer(upgrade(cam.id, { 'sec-websocket-protocol': `picam.v1, picam.token.${token}` }));
  assert.deepEqual(grant, { kind: 'share', id: share.id, userId: null, cameraId: cam.id, expiresAt: share.expiresAt });
  assert.equal(await h.accounts.access.isGrantValid(grant), true);

  h.live.viewers.set(share.id, 2);
  const listed = (await h.request('GET', `/api/cameras/${cam.id}/shares`, { token: admin })).json.shares as Array<{ viewers: number; state: string }>;
  assert.equal(listed[0]?.viewers, 2);

  assert.equal((await h.request('DELETE', `/api/shares/${share.id}`, { token: admin })).status, 204);
  assert.deepEqual(h.live.calls, [['grantRevoked', share.id]]);
  assert.equal(await h.accounts.access.isGrantValid(grant), false);
  const after = (await h.request('GET', `/api/cameras/${cam.id}/shares`, { token: admin })).json.shares as Array<{ state: string; revokedAt: number }>;
  assert.equal(after[0]?.state, 'revoked');
  assert.equal(after[0]?.revokedAt, h.clock.now);
});

test('a short share link expires: grant invalid, listed as expired', async () => {
  const h = await harness();
  const cam = await h.camera();
  const share = await h.share(cam.id, { expiresIn: 3 });
  const grant = await h.accounts.access.authorizeViewer(upgrade(cam.id, {}, `?token=${share.token}`));
  h.clock.now += 3000;
  assert.equal(await h.accounts.access.isGrantValid(grant), false);
  const listed = (await h.request('GET', `/api/cameras/${cam.id}/shares`, { token: await h.adminToken() })).json.shares as Array<{ state: string }>;
  assert.equal(listed[0]?.state, 'expired');
});

test('session viewers: cookie with our Origin, subprotocol token; grant ends with logout', async () => {
  const h = await harness();
  const cam = await h.camera();
  const token = await h.adminToken();
  const viaCookie = await h.accounts.access.authorizeViewer(upgrade(cam.id, { cookie: `picam_session=${token}`, origin: PUBLIC_ORIGIN, host: 'relay.internal' }));
  assert.equal(viaCookie.kind, 'session');
  assert.equal(viaCookie.id, jti(token));
  const viaHost = await h.accounts.access.authorizeViewer(upgrade(cam.id, { cookie: `picam_session=${token}`, origin: 'http://relay.internal', host: 'relay.internal' }));
  assert.equal(viaHost.expiresAt, h.clock.now + h.config.sessionTtlSeconds * 1000);
  const viaProtocol = await h.accounts.access.authorizeViewer(upgrade(cam.id, { 'sec-websocket-protocol': `picam.v1, picam.token.${token}` }));
  assert.equal(await h.accounts.access.isGrantValid(viaProtocol), true);
  await h.request('POST', '/api/auth/logout', { token });
  assert.equal(await h.accounts.access.isGrantValid(viaProtocol), false);
});

test('names with SQL and HTML are stored verbatim and returned only as JSON', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  const name = `Robert'); DROP TABLE cameras;-- <script>alert(1)</script> "quoted"`;
  const res = await h.request('POST', '/api/cameras', { token: admin, body: { name } });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const id = (res.json.camera as { id: string }).id;
  const share = await h.share(id, { expiresIn: 60, label: '<img src=x onerror=alert(1)>' });
  const listed = (await h.request('GET', '/api/cameras', { token: admin })).json.cameras as Array<{ name: string }>;
  assert.deepEqual(listed.map((c) => c.name), [name]);
  assert.equal(((await h.request('GET', '/api/share', { token: share.token })).json.share as { label: string }).label, '<img src=x onerror=alert(1)>');
  // The table is still there (a query on a dropped table would throw).
  assert.equal((await h.query('SELECT id FROM cameras')).length, 1);
});

test('signing keys: private JWK files 0600 in a 0700 directory; rotation keeps old tokens valid', async () => {
  const h = await harness();
  // With Postgres the keys are rows of signing_keys, shared by the nodes (attacks-accounts tests keys remove).
  const files = h.config.databaseUrl === undefined;
  const dir = join(h.config.dataDir, 'keys');
  if (files) {
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const [file] = readdirSync(dir);
    assert.ok(file !== undefined && file.endsWith('.jwk'));
    assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600);
  }
  const before = await h.adminToken();
  h.clock.now += 1000;
  const rotated = await h.accounts.rotateSigningKey();
  const after = await h.login('admin', ADMIN_PASSWORD, '10.3.0.1');
  assert.equal(decodeProtectedHeader(after).kid, rotated.kid);
  assert.notEqual(decodeProtectedHeader(before).kid, rotated.kid);
  assert.equal((await h.request('GET', '/api/auth/me', { token: before })).status, 200);
  assert.equal((await h.request('GET', '/api/auth/me', { token: after })).status, 200);
  if (files) for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600);
});

test('audit log records the security events and never a secret', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  await h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'wrong-secret-pw' }, address: '10.4.0.1' });
  const cam = await h.camera();
  const credential = await h.enroll(cam.token);
  const share = await h.share(cam.id);
  await h.request('DELETE', `/api/shares/${share.id}`, { token: admin });
  const res = await h.request('GET', '/api/audit', { token: admin });
  assert.equal(res.status, 200);
  const actions = (res.json.entries as Array<{ action: string }>).map((e) => e.action);
  for (const a of ['login.success', 'login.failure', 'camera.create', 'enrollment.issue', 'enrollment.consume', 'share.create', 'share.revoke']) {
    assert.ok(actions.includes(a), a);
  }
  const dump = JSON.stringify(await h.query('SELECT * FROM audit_log'));
  for (const secret of [ADMIN_PASSWORD, 'wrong-secret-pw', admin, cam.token, credential, share.token]) assert.ok(!dump.includes(secret));
});

test('bootstrapAdmin: generated password once; an existing admin is never changed silently', async () => {
  const h = await harness({ adminPassword: undefined });
  const log = createLogger('silent');
  const bootstrap = async (adminPassword: string | undefined) =>
    (await createAccounts({ db: h.database.db, index: h.database.index, config: { ...h.config, adminPassword }, log, live: () => new StubLive(), scryptCost: 4 })).bootstrapAdmin();
  await h.query('DELETE FROM users');

  const first = await bootstrap(undefined);
  assert.equal(first.username, 'admin');
  assert.ok(first.generatedPassword && first.generatedPassword.length >= 20);
  await h.login('admin', first.generatedPassword);
  const adminHash = async () => h.query("SELECT password_hash FROM users WHERE username = 'admin'");
  const hash = await adminHash();

  assert.deepEqual(await bootstrap('a different password'), { username: 'admin', generatedPassword: null });
  assert.deepEqual(await bootstrap(undefined), { username: 'admin', generatedPassword: null });
  assert.deepEqual(await adminHash(), hash);
  const login = await h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'a different password' } });
  assert.equal(login.status, 401);
});

test('the api app mounts under /api only', async () => {
  const h = await harness();
  const app = new Hono().route('/api', h.accounts.api);
  assert.equal((await app.request('/auth/me')).status, 404);
});

test('two admins removing each other at the same moment: one of them stays (the last admin holds on Postgres too)', async () => {
  const h = await harness();
  const admin = await h.adminToken();
  const created = await h.request('POST', '/api/users', { token: admin, body: { username: 'second', password: 'second-password', role: 'admin' } });
  assert.equal(created.status, 201);
  const second = await h.login('second', 'second-password', '10.5.0.1');
  const me = await h.request('GET', '/api/auth/me', { token: admin });
  const ids = { admin: (me.json.user as { id: string }).id, second: (created.json.user as { id: string }).id };
  const [a, b] = await Promise.all([
    h.request('DELETE', `/api/users/${ids.second}`, { token: admin }),
    h.request('DELETE', `/api/users/${ids.admin}`, { token: second }),
  ]);
  // One removal went through; the other was refused: the last admin (409), or, when the first was
  // already done when it came, its own account gone (401).
  const statuses = [a.status, b.status].sort();
  assert.equal(statuses[0], 200);
  assert.ok(statuses[1] === 401 || statuses[1] === 409, `the other removal: ${statuses[1]}`);
  const admins = await h.query<{ n: unknown }>("SELECT count(*) AS n FROM users WHERE role = 'admin'");
  assert.equal(Number(admins[0]?.n), 1);
});
