import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { SESSION_GET, claimEarlyFetch, startEarlyFetch } from '../src/early-fetch.ts';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
  claimEarlyFetch('/api/auth/me');
});

function stubFetch(): Array<[string, RequestInit | undefined]> {
  const calls: Array<[string, RequestInit | undefined]> = [];
  globalThis.fetch = ((path: string, init?: RequestInit) => {
    calls.push([path, init]);
    return Promise.resolve(new Response(JSON.stringify({ n: calls.length }), { status: 200 }));
  }) as typeof fetch;
  return calls;
}

test('early fetch: the first claim gets the answer already asked for, with the session GET options; later ones ask again', async () => {
  const calls = stubFetch();
  startEarlyFetch('/api/auth/me');
  assert.deepEqual(calls, [['/api/auth/me', SESSION_GET]]);
  const first = claimEarlyFetch('/api/auth/me');
  assert.ok(first);
  assert.deepEqual(await (await first).json(), { n: 1 });
  assert.equal(claimEarlyFetch('/api/auth/me'), undefined, 'used once');
  assert.equal(calls.length, 1);
});

test('early fetch: another path is not answered from it', () => {
  stubFetch();
  startEarlyFetch('/api/auth/me');
  assert.equal(claimEarlyFetch('/api/cameras'), undefined);
});

test('early fetch: a failure nobody claims is not an unhandled rejection; the claimer sees it', async () => {
  globalThis.fetch = (() => Promise.reject(new TypeError('offline'))) as typeof fetch;
  startEarlyFetch('/api/auth/me');
  await new Promise((resolve) => setImmediate(resolve));
  await assert.rejects(claimEarlyFetch('/api/auth/me')!, /offline/);
});
