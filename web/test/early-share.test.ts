import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { viewerProtocols } from '@picam/protocol';
import { SESSION_GET, bearerGet, claimEarlyFetch, startEarlyFetch } from '../src/early-fetch.ts';
import { claimEarlySocket, discardEarlySocket } from '../src/player/early-socket.ts';
import { cameraOfShareToken, shareTokenOf } from '../src/share-link.ts';

/**
 * A share link's early start: the boot script reads the camera from the link's token, opens that
 * camera's live socket with the token, and starts the link's lookup with it as Bearer; the share
 * page then gets both. The boot script runs as it does in the page: imported with a `location`.
 */

const b64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
/** A share token as the relay signs one, but for the signature (which the browser never checks). */
const shareToken = (claims: object) => `${b64url('{"alg":"EdDSA","typ":"JWT"}')}.${b64url(JSON.stringify(claims))}.c2lnbmF0dXJl`;

class FakeSocket {
  static created: FakeSocket[] = [];
  binaryType = 'blob';
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  closedWith: [number, string] | null = null;
  readonly url: string;
  readonly protocols: string[];
  constructor(url: string, protocols: string[]) {
    this.url = url;
    this.protocols = protocols;
    FakeSocket.created.push(this);
  }
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
  }
}

const realFetch = globalThis.fetch;
const g = globalThis as Record<string, unknown>;
let fetches: Array<[string, RequestInit | undefined]> = [];
let boots = 0;

/** Runs the boot script once at this address, as the page does while it is parsed. */
async function bootAt(address: string): Promise<void> {
  const url = new URL(address);
  g.location = { pathname: url.pathname, hash: url.hash, protocol: url.protocol, host: url.host };
  g.WebSocket = FakeSocket;
  globalThis.fetch = ((path: string, init?: RequestInit) => {
    fetches.push([path, init]);
    return Promise.resolve(new Response('{}', { status: 200 }));
  }) as typeof fetch;
  await import(`../src/boot.ts?run=${++boots}`);
}

afterEach(() => {
  discardEarlySocket();
  claimEarlyFetch('/api/auth/me');
  globalThis.fetch = realFetch;
  delete g.location;
  delete g.WebSocket;
  FakeSocket.created = [];
  fetches = [];
});

test('share link: the token is the fragment, decoded and trimmed; a fragment that does not decode is no token', () => {
  assert.equal(shareTokenOf('#abc.def.ghi'), 'abc.def.ghi');
  assert.equal(shareTokenOf('#abc.def.ghi%20'), 'abc.def.ghi');
  assert.equal(shareTokenOf(''), '');
  assert.equal(shareTokenOf('#%E0%A4%A'), '', 'a malformed escape is an invalid link, not a page that throws');
});

test('share link: the camera is the token\'s sub, read from base64url without padding; anything else has none', () => {
  // Ids whose claims encode with base64url's '-' ('a??>b') and '_' ('???', 'a???'), at every length
  // modulo 4 that base64 would pad.
  for (const id of ['cam-1', 'a??>b', '???', 'a???', 'abcd']) assert.equal(cameraOfShareToken(shareToken({ sub: id, jti: 's1' })), id);
  assert.equal(cameraOfShareToken('not-a-jwt'), null);
  assert.equal(cameraOfShareToken(''), null);
  assert.equal(cameraOfShareToken('a.!!!.c'), null, 'not base64');
  assert.equal(cameraOfShareToken(`a.${b64url('not json')}.c`), null);
  assert.equal(cameraOfShareToken(`a.${b64url('null')}.c`), null);
  assert.equal(cameraOfShareToken(shareToken({ sub: 42 })), null);
  assert.equal(cameraOfShareToken(shareToken({ sub: '' })), null);
});

test('early fetch with a share token: sent as Bearer without cookies, and claimed only with that same token', async () => {
  fetches = [];
  globalThis.fetch = ((path: string, init?: RequestInit) => {
    fetches.push([path, init]);
    return Promise.resolve(new Response(JSON.stringify({ n: fetches.length }), { status: 200 }));
  }) as typeof fetch;
  startEarlyFetch('/api/share', 'tok-a');
  assert.deepEqual(fetches, [['/api/share', bearerGet('tok-a')]]);
  assert.deepEqual(bearerGet('tok-a'), { headers: { Accept: 'application/json', Authorization: 'Bearer tok-a' }, credentials: 'omit', cache: 'no-store' });
  assert.equal(claimEarlyFetch('/api/share'), undefined, 'not the answer to a request without the token');
  assert.equal(claimEarlyFetch('/api/share', 'tok-b'), undefined, 'nor to one with another token');
  const claimed = claimEarlyFetch('/api/share', 'tok-a');
  assert.ok(claimed);
  assert.deepEqual(await (await claimed).json(), { n: 1 });
  assert.equal(claimEarlyFetch('/api/share', 'tok-a'), undefined, 'used once');
});

test('boot on a share link: the token\'s camera\'s live socket opens with the token, and the link\'s lookup starts with it', async () => {
  const token = shareToken({ sub: 'cam-7', jti: 'share-1', exp: 2_000_000_000 });
  await bootAt(`http://relay.test/s/share-1#${token}`);
  assert.equal(FakeSocket.created.length, 1);
  const socket = FakeSocket.created[0]!;
  assert.deepEqual(socket.protocols, viewerProtocols(token));
  assert.deepEqual(fetches, [['/api/share', bearerGet(token)]]);
  // What the share page's player and lookup ask for (connection.ts, api.ts) is what the boot script started.
  const claimed = claimEarlySocket(socket.url, viewerProtocols(token));
  assert.equal(claimed?.ws, socket as unknown as WebSocket);
  assert.match(socket.url, /^ws:\/\/relay\.test\/api\/cameras\/cam-7\/live$/);
  assert.ok(claimEarlyFetch('/api/share', token));
});

test('boot on a share link without a readable token opens nothing; the page says the link is not valid', async () => {
  await bootAt('http://relay.test/s/share-1#not-a-token');
  await bootAt('http://relay.test/s/share-1');
  assert.equal(FakeSocket.created.length, 0);
  assert.deepEqual(fetches, []);
});

test('boot on a camera page: its socket with the session cookie and the session check, as before', async () => {
  await bootAt('http://relay.test/cameras/cam-3');
  assert.equal(FakeSocket.created.length, 1);
  assert.deepEqual(FakeSocket.created[0]!.protocols, viewerProtocols(undefined));
  assert.match(FakeSocket.created[0]!.url, /\/api\/cameras\/cam-3\/live$/);
  assert.deepEqual(fetches, [['/api/auth/me', SESSION_GET]]);
});

test('boot elsewhere (the camera list, login) opens nothing', async () => {
  await bootAt('http://relay.test/');
  await bootAt('http://relay.test/login');
  assert.equal(FakeSocket.created.length, 0);
  assert.deepEqual(fetches, []);
});
