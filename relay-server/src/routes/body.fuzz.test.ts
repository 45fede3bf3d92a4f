import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { createHarness, type Harness } from '../../test/accounts-harness.ts';
import { MAX_BODY_BYTES } from './api.ts';
import { announceSeed, checkProperty, fuzzTimeoutMs, guardedAsync } from '../../../test/helpers/fuzz-config.ts';
import { jsonTextMutants } from '../../../test/helpers/fuzz-inputs.ts';

/**
 * Fuzzing the JSON API's request bodies (readJson and every route's schema) through the real Hono
 * app and a real SQLite file, as an admin: mutated valid bodies, random JSON and bytes, odd content
 * types, bodies around the 16 KiB cap. Every answer is a JSON object with a status below 500 and,
 * for a refusal, an `{ error: { code, message } }` that names no secret.
 */

announceSeed(import.meta.url);
const timeout = fuzzTimeoutMs(60_000);

let h: Harness;
let admin: string;
let cameraId: string;
let userId: string;

before(async () => {
  // The global cap on sign-in hashes (4 a second by default) would refuse most fuzzed logins unread.
  h = await createHarness({ loginHashesPerSecond: 1000 });
  admin = await h.adminToken();
  cameraId = (await h.camera('fuzzed')).id;
  // A user of its own for PATCH: the admin account is never the target (a valid random body could demote it).
  userId = (await h.viewer('fuzz-target', [cameraId])).id;
});
after(() => h?.close());

interface Route {
  label: string;
  method: string;
  path: () => string;
  auth: boolean;
  examples: unknown[];
}

const settings = { ...DEFAULT_CAMERA_SETTINGS };
const ROUTES: Route[] = [
  { label: 'POST /api/auth/login', method: 'POST', path: () => '/api/auth/login', auth: false, examples: [{ username: 'admin', password: 'not the password' }] },
  { label: 'POST /api/auth/password', method: 'POST', path: () => '/api/auth/password', auth: true, examples: [{ currentPassword: 'wrong password', newPassword: 'a new password 123' }] },
  { label: 'POST /api/cameras', method: 'POST', path: () => '/api/cameras', auth: true, examples: [{ name: 'Porch' }, { name: 'Garden', settings: { width: 640, height: 480, rotation: 180 } }] },
  { label: 'PATCH /api/cameras/:id', method: 'PATCH', path: () => `/api/cameras/${cameraId}`, auth: true, examples: [{ name: 'Renamed' }, { settings: { framerate: 25, onDemand: true } }, { settings }] },
  {
    label: 'POST /api/cameras/:id/shares',
    method: 'POST',
    path: () => `/api/cameras/${cameraId}/shares`,
    auth: true,
    examples: [{ expiresIn: 3600, label: 'friend' }, { expiresAt: Date.UTC(2030, 0, 2), maxViewers: 3 }, { maxViewers: null }],
  },
  { label: 'POST /api/users', method: 'POST', path: () => '/api/users', auth: true, examples: [{ username: 'someone', password: 'long enough password', role: 'viewer', cameraIds: [] }] },
  { label: 'PATCH /api/users/:id', method: 'PATCH', path: () => `/api/users/${userId}`, auth: true, examples: [{ role: 'viewer' }, { password: 'another password 1', cameraIds: ['x'] }] },
  { label: 'POST /api/enroll', method: 'POST', path: () => '/api/enroll', auth: false, examples: [{ token: 'not-a-real-token' }] },
];

const SECRETS = ['not the password', 'wrong password', 'a new password 123', 'long enough password', 'another password 1'];

/** Body bytes: JSON text mutants (as UTF-8), raw bytes, and sizes around the cap. */
function bodies(examples: unknown[]): fc.Arbitrary<string | Uint8Array> {
  return fc.oneof(
    { weight: 12, arbitrary: jsonTextMutants(examples) as fc.Arbitrary<string | Uint8Array> },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.integer({ min: MAX_BODY_BYTES - 20, max: MAX_BODY_BYTES + 20 }).map((n) => `{"name":"${'x'.repeat(Math.max(0, n - 11))}"}`) },
  );
}

const contentTypes = fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded');
// Many client addresses: the per-address limits (enroll, login) would otherwise answer 429 before the
// body is read once a long run has sent a few dozen requests.
const addresses = fc.oneof(
  fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 255 })).map(([a, b]) => `198.18.${a}.${b}`),
  fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })).map(([a, b]) => `2001:db8:${a.toString(16)}:${b.toString(16)}::1`),
);

for (const route of ROUTES) {
  test(`API body ${route.label}: never a 5xx, always a JSON answer`, { timeout }, async (t) => {
    const statuses = new Map<number, number>();
    await checkProperty(
      t,
      `API body ${route.label}`,
      fc.asyncProperty(bodies(route.examples), contentTypes, addresses, async (body, contentType, address) => {
        const headers: Record<string, string> = {};
        if (contentType !== undefined) headers['content-type'] = contentType;
        if (route.auth) headers.authorization = `Bearer ${admin}`;
        const init = { method: route.method, headers, body };
        const env = { incoming: { socket: { remoteAddress: address } } };
        const { res, text } = await guardedAsync(route.label, body, async () => {
          const answer = await h.app.request(`http://relay.internal${route.path()}`, init, env);
          return { res: answer, text: await answer.text() };
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        assert.ok(res.status < 500, `status ${res.status}: ${text}`);
        const json = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
        assert.ok(json !== null && typeof json === 'object', 'a JSON object');
        if (res.status >= 400) {
          assert.ok(typeof json.error?.code === 'string' && typeof json.error.message === 'string', `error shape: ${text}`);
          for (const secret of SECRETS) assert.ok(!text.includes(secret), 'no password echoed back');
        }
      }),
      40,
    );
    t.diagnostic(`${route.label} answers: ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${n}x ${s}`).join(', ')}`);
  });
}

test('after the fuzzing the admin session still works and the database is intact', async () => {
  const me = await h.request('GET', '/api/auth/me', { token: admin });
  assert.equal(me.status, 200);
  if (h.database.dialect === 'sqlite') assert.deepEqual(await h.query('PRAGMA integrity_check'), [{ integrity_check: 'ok' }]);
  else assert.equal((await h.query('SELECT id FROM users')).length > 0, true, 'Postgres answers and the admin is there');
});
