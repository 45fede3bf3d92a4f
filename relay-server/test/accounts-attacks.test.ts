import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey } from 'node:crypto';
import { SignJWT, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { ApiError } from '../src/errors.ts';
import type { ViewerUpgradeRequest } from '../src/services.ts';
import { PUBLIC_ORIGIN, START, createHarness, type Harness } from './accounts-harness.ts';

/**
 * The attack suite: one table of hostile requests, each expecting a precise status and error
 * code AND that nothing else changed (no row anywhere but the audit log, no call to the live side).
 * Each case runs on a fresh relay (own temp DATA_DIR) so cases cannot mask one another.
 */

interface Outcome {
  status: number;
  code: string | undefined;
}

interface AttackCase {
  name: string;
  /** builds the scene; returns the attack itself */
  arrange(h: Harness): Promise<() => Promise<Outcome>>;
  status: number;
  code: string;
}

const http = (res: { status: number; json: { error?: { code: string } } }): Outcome => ({
  status: res.status,
  code: res.json.error?.code,
});

async function thrown(fn: () => unknown): Promise<Outcome> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, code: err.code };
    throw err;
  }
  return { status: 200, code: undefined };
}

function upgrade(cameraId: string, o: { token?: string; protocol?: string; cookie?: string; origin?: string } = {}): ViewerUpgradeRequest {
  const url = new URL(`http://relay.internal/api/cameras/${cameraId}/live`);
  if (o.token) url.searchParams.set('token', o.token);
  const headers: ViewerUpgradeRequest['headers'] = { host: 'relay.internal' };
  if (o.protocol) headers['sec-websocket-protocol'] = `picam.v1, picam.token.${o.protocol}`;
  if (o.cookie) headers.cookie = `other=1; picam_session=${o.cookie}`;
  if (o.origin) headers.origin = o.origin;
  return { cameraId, url, headers, address: '192.0.2.9' };
}

/** The relay's signing key, read where it keeps it: a file in DATA_DIR/keys, or a row with Postgres. */
async function signingKey(h: Harness): Promise<{ kid: string; key: CryptoKey; jwk: JWK }> {
  let text: string;
  if (h.config.databaseUrl === undefined) {
    const dir = join(h.config.dataDir, 'keys');
    const file = readdirSync(dir).find((f) => f.endsWith('.jwk'));
    assert.ok(file);
    text = readFileSync(join(dir, file), 'utf8');
  } else {
    const [row] = await h.query<{ jwk: string }>('SELECT jwk FROM signing_keys ORDER BY created_at DESC LIMIT 1');
    assert.ok(row);
    text = row.jwk;
  }
  const jwk = JSON.parse(text) as JWK & { kid: string };
  return { kid: jwk.kid, key: (await importJWK(jwk, 'EdDSA')) as CryptoKey, jwk };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sec = (ms: number) => Math.floor(ms / 1000);

/** A session JWT for the admin's real session, with chosen header/claims, signed by the real key. */
async function forgedSession(h: Harness, edit: (claims: Record<string, unknown>) => void, typ = 'session+jwt', aud = 'picam-relay/session') {
  const real = await h.adminToken();
  const claims = JSON.parse(Buffer.from(real.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
  edit(claims);
  const { kid, key } = await signingKey(h);
  return new SignJWT({ ...claims, aud }).setProtectedHeader({ alg: 'EdDSA', typ, kid }).sign(key);
}

const me = (h: Harness, token: string) => h.request('GET', '/api/auth/me', { token }).then(http);

const cases: AttackCase[] = [
  // ---- passwords and rate limits
  {
    name: 'wrong password',
    arrange: async (h) => () => h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'nope-nope' } }).then(http),
    status: 401,
    code: 'invalid_credentials',
  },
  {
    name: 'unknown user (same answer as a wrong password)',
    arrange: async (h) => () => h.request('POST', '/api/auth/login', { body: { username: 'ghost', password: 'nope-nope' } }).then(http),
    status: 401,
    code: 'invalid_credentials',
  },
  {
    name: 'client rate limit: the guessing address is refused after 5 failures, even with the right password',
    arrange: async (h) => {
      for (let i = 0; i < 5; i++) {
        const res = await h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'wrong-pass' }, address: '10.0.1.1' });
        assert.equal(res.status, 401);
      }
      return async () => {
        const res = await h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'correct horse battery' }, address: '10.0.1.1' });
        assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
        return http(res);
      };
    },
    status: 429,
    code: 'rate_limited',
  },
  {
    name: 'address rate limit: 11th attempt from one address',
    arrange: async (h) => {
      for (let i = 0; i < 10; i++) {
        await h.request('POST', '/api/auth/login', { body: { username: `user${i}`, password: 'wrong-pass' }, address: '10.9.9.9' });
      }
      return () => h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'correct horse battery' }, address: '10.9.9.9' }).then(http);
    },
    status: 429,
    code: 'rate_limited',
  },
  // ---- session JWTs
  {
    name: 'alg: none session token',
    arrange: async (h) => {
      const real = await h.adminToken();
      const { kid } = await signingKey(h);
      return () => me(h, `${b64({ alg: 'none', typ: 'session+jwt', kid })}.${real.split('.')[1]}.`);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'tampered signature',
    arrange: async (h) => {
      const real = await h.adminToken();
      const sig = real.split('.')[2] ?? '';
      // The first character: all six of its bits are signature bits (the last one's are partly padding).
      const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
      return () => me(h, real.replace(sig, flipped));
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'tampered payload (sub swapped to a viewer id, signature kept)',
    arrange: async (h) => {
      const real = await h.adminToken();
      const v = await h.viewer('vic', []);
      const [hdr, payload, sig] = real.split('.');
      const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
      return () => me(h, `${hdr}.${b64({ ...claims, sub: v.id })}.${sig}`);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'alg confusion: HS256 signed with the public key bytes',
    arrange: async (h) => {
      const real = await h.adminToken();
      const { kid, jwk } = await signingKey(h);
      const claims = JSON.parse(Buffer.from(real.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
      const pem = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'session+jwt', kid }).sign(Buffer.from(pem));
      return () => me(h, forged);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'token signed by a key the relay does not have',
    arrange: async (h) => {
      const real = await h.adminToken();
      const claims = JSON.parse(Buffer.from(real.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'session+jwt', kid: 'rogue' }).sign(privateKey);
      return () => me(h, forged);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'expired session JWT (row still valid)',
    arrange: async (h) => {
      const forged = await forgedSession(h, (c) => {
        c.iat = sec(START) - 7200;
        c.exp = sec(START) - 3600;
      });
      return () => me(h, forged);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'expired session (clock past its lifetime)',
    arrange: async (h) => {
      const token = await h.adminToken();
      h.clock.now += h.config.sessionTtlSeconds * 1000 + 10_000;
      return () => me(h, token);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'not yet valid: iat a minute in the future',
    arrange: async (h) => {
      const forged = await forgedSession(h, (c) => {
        c.iat = sec(START) + 60;
      });
      return () => me(h, forged);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'not yet valid: nbf a minute in the future',
    arrange: async (h) => {
      const forged = await forgedSession(h, (c) => {
        c.nbf = sec(START) + 60;
      });
      return () => me(h, forged);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'session typ with the share audience',
    arrange: async (h) => {
      const forged = await forgedSession(h, () => {}, 'session+jwt', 'picam-relay/share');
      return () => me(h, forged);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'session token used as a share token (GET /api/share)',
    arrange: async (h) => {
      const token = await h.adminToken();
      return () => h.request('GET', '/api/share', { token }).then(http);
    },
    status: 401,
    code: 'token_invalid',
  },
  {
    name: 'session claims relabelled typ share+jwt (properly signed) on a viewer socket',
    arrange: async (h) => {
      const cam = await h.camera();
      const forged = await forgedSession(h, () => {}, 'share+jwt', 'picam-relay/session');
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { token: forged })));
    },
    status: 401,
    code: 'token_invalid',
  },
  {
    name: 'share token used as a session token (GET /api/cameras)',
    arrange: async (h) => {
      const cam = await h.camera();
      const share = await h.share(cam.id);
      return () => h.request('GET', '/api/cameras', { token: share.token }).then(http);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'share token in the session cookie on a viewer socket',
    arrange: async (h) => {
      const cam = await h.camera();
      const share = await h.share(cam.id);
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { cookie: share.token, origin: PUBLIC_ORIGIN })));
    },
    status: 401,
    code: 'unauthenticated',
  },
  // ---- share links
  {
    name: "another camera's share token",
    arrange: async (h) => {
      const a = await h.camera('A');
      const b = await h.camera('B');
      const share = await h.share(a.id);
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(b.id, { protocol: share.token })));
    },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'revoked share (viewer socket)',
    arrange: async (h) => {
      const cam = await h.camera();
      const share = await h.share(cam.id);
      assert.equal((await h.request('DELETE', `/api/shares/${share.id}`, { token: await h.adminToken() })).status, 204);
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { token: share.token })));
    },
    status: 410,
    code: 'link_revoked',
  },
  {
    name: 'revoked share (GET /api/share)',
    arrange: async (h) => {
      const cam = await h.camera();
      const share = await h.share(cam.id);
      await h.request('DELETE', `/api/shares/${share.id}`, { token: await h.adminToken() });
      return () => h.request('GET', '/api/share', { token: share.token }).then(http);
    },
    status: 410,
    code: 'link_revoked',
  },
  {
    name: 'expired share (3 s link, 4 s later)',
    arrange: async (h) => {
      const cam = await h.camera();
      const share = await h.share(cam.id, { expiresIn: 3, label: 'short' });
      h.clock.now += 4000;
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { protocol: share.token })));
    },
    status: 410,
    code: 'link_expired',
  },
  {
    name: 'share over its viewer cap',
    arrange: async (h) => {
      const cam = await h.camera();
      const share = await h.share(cam.id, { expiresIn: 60, maxViewers: 2 });
      h.live.viewers.set(share.id, 2);
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { token: share.token })));
    },
    status: 429,
    code: 'too_many_viewers',
  },
  // ---- enrollment and device credentials
  {
    name: 'reused enrollment token',
    arrange: async (h) => {
      const cam = await h.camera();
      await h.enroll(cam.token);
      return () => h.request('POST', '/api/enroll', { body: { token: cam.token } }).then(http);
    },
    status: 401,
    code: 'token_invalid',
  },
  {
    name: 'expired enrollment token',
    arrange: async (h) => {
      const cam = await h.camera();
      h.clock.now += h.config.enrollmentTtlSeconds * 1000 + 1;
      return () => h.request('POST', '/api/enroll', { body: { token: cam.token } }).then(http);
    },
    status: 410,
    code: 'token_expired',
  },
  {
    name: 'enrollment token superseded by a newer one',
    arrange: async (h) => {
      const cam = await h.camera();
      await h.request('POST', `/api/cameras/${cam.id}/enrollment`, { token: await h.adminToken() });
      return () => h.request('POST', '/api/enroll', { body: { token: cam.token } }).then(http);
    },
    status: 401,
    code: 'token_invalid',
  },
  {
    name: "deleted camera's device credential",
    arrange: async (h) => {
      const cam = await h.camera();
      const credential = await h.enroll(cam.token);
      await h.request('DELETE', `/api/cameras/${cam.id}`, { token: await h.adminToken() });
      return () => thrown(() => h.accounts.access.authenticateAgent(`Bearer ${credential}`));
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: "re-enrolled camera's old device credential",
    arrange: async (h) => {
      const cam = await h.camera();
      const old = await h.enroll(cam.token);
      const res = await h.request('POST', `/api/cameras/${cam.id}/enrollment`, { token: await h.adminToken() });
      await h.enroll((res.json.enrollment as { token: string }).token);
      return () => thrown(() => h.accounts.access.authenticateAgent(`Bearer ${old}`));
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'enrollment token presented as a device credential',
    arrange: async (h) => {
      const cam = await h.camera();
      return () => thrown(() => h.accounts.access.authenticateAgent(`Bearer ${cam.token}`));
    },
    status: 401,
    code: 'unauthenticated',
  },
  // ---- roles and grants
  {
    name: 'viewer reads an ungranted camera (HTTP)',
    arrange: async (h) => {
      const mine = await h.camera('Mine');
      const other = await h.camera('Other');
      const v = await h.viewer('vera', [mine.id]);
      return () => h.request('GET', `/api/cameras/${other.id}`, { token: v.token }).then(http);
    },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'viewer opens an ungranted camera (authorizeViewer)',
    arrange: async (h) => {
      const mine = await h.camera('Mine');
      const other = await h.camera('Other');
      const v = await h.viewer('vera', [mine.id]);
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(other.id, { protocol: v.token })));
    },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'viewer creates a camera',
    arrange: async (h) => {
      const v = await h.viewer('vera', []);
      return () => h.request('POST', '/api/cameras', { token: v.token, body: { name: 'mine now' } }).then(http);
    },
    status: 403,
    code: 'forbidden',
  },
  {
    name: "removed user's session",
    arrange: async (h) => {
      const v = await h.viewer('vera', []);
      await h.request('DELETE', `/api/users/${v.id}`, { token: await h.adminToken() });
      return () => me(h, v.token);
    },
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'unknown camera on a viewer socket',
    arrange: async (h) => {
      const token = await h.adminToken();
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade('nosuchcam0', { token })));
    },
    status: 404,
    code: 'camera_not_found',
  },
  // ---- cross-site
  {
    name: 'cross-site WebSocket upgrade with the cookie',
    arrange: async (h) => {
      const cam = await h.camera();
      const token = await h.adminToken();
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { cookie: token, origin: 'https://evil.example' })));
    },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'cookie upgrade without any Origin',
    arrange: async (h) => {
      const cam = await h.camera();
      const token = await h.adminToken();
      return () => thrown(() => h.accounts.access.authorizeViewer(upgrade(cam.id, { cookie: token })));
    },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'CSRF: cookie-authenticated DELETE from a foreign origin',
    arrange: async (h) => {
      const cam = await h.camera();
      const token = await h.adminToken();
      return () => h.request('DELETE', `/api/cameras/${cam.id}`, { cookie: token, origin: 'https://evil.example' }).then(http);
    },
    status: 403,
    code: 'csrf_failed',
  },
  {
    name: 'CSRF: cookie-authenticated POST without Origin',
    arrange: async (h) => {
      const token = await h.adminToken();
      return () => h.request('POST', '/api/cameras', { cookie: token, body: { name: 'x' } }).then(http);
    },
    status: 403,
    code: 'csrf_failed',
  },
  {
    name: 'login CSRF from a foreign origin',
    arrange: async (h) => () =>
      h.request('POST', '/api/auth/login', { body: { username: 'admin', password: 'correct horse battery' }, origin: 'https://evil.example' }).then(http),
    status: 403,
    code: 'csrf_failed',
  },
  // ---- bodies
  {
    name: 'oversized body',
    arrange: async (h) => {
      const token = await h.adminToken();
      return () => h.request('POST', '/api/cameras', { token, body: { name: 'x'.repeat(20_000) } }).then(http);
    },
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'malformed JSON',
    arrange: async (h) => {
      const token = await h.adminToken();
      return () => h.request('POST', '/api/cameras', { token, rawBody: '{"name": "x",' }).then(http);
    },
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'unexpected field (mass assignment of a credential hash)',
    arrange: async (h) => {
      const cam = await h.camera();
      const token = await h.adminToken();
      return () => h.request('PATCH', `/api/cameras/${cam.id}`, { token, body: { credentialHash: 'aa' } }).then(http);
    },
    status: 400,
    code: 'validation_failed',
  },
];

const harnesses: Harness[] = [];
after(() => Promise.all(harnesses.map((h) => h.close())));

for (const c of cases) {
  test(`attack: ${c.name} -> ${c.status} ${c.code}`, async () => {
    const h = await createHarness();
    harnesses.push(h);
    const attack = await c.arrange(h);
    const before = await h.snapshot();
    const liveCalls = h.live.calls.length;
    const outcome = await attack();
    assert.deepEqual(outcome, { status: c.status, code: c.code });
    assert.equal(await h.snapshot(), before, 'no table changed');
    assert.deepEqual(h.live.calls.slice(liveCalls), [], 'nothing sent to the live side');
  });
}
