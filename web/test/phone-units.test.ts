import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectMediaSource, mediaSourceAvailable } from '../src/player/media-source.ts';
import { BackgroundPause, type VisibilitySource } from '../src/player/visibility.ts';
import { RELEASE_DELAY_MS, ScreenWakeLock, type WakeLockEnvironment, type WakeLockSentinelLike } from '../src/player/wake-lock.ts';
import { LIVE_OR_PRIVATE_PATTERNS, cacheName, isLiveOrPrivate, staleCaches, swAction } from '../src/pwa/sw-policy.ts';

/** A document whose visibility the test sets. */
class FakeDocument implements VisibilitySource {
  visibilityState: DocumentVisibilityState = 'visible';
  private listeners = new Set<() => void>();
  addEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.listeners.add(listener);
  }
  removeEventListener(_type: 'visibilitychange', listener: () => void): void {
    this.listeners.delete(listener);
  }
  set(state: DocumentVisibilityState): void {
    this.visibilityState = state;
    for (const listener of [...this.listeners]) listener();
  }
  get listenerCount(): number {
    return this.listeners.size;
  }
}

test('background pause: hidden pauses once, visible resumes once; a listened-to stream keeps running and only catches up', () => {
  const doc = new FakeDocument();
  const calls: string[] = [];
  let listening = false;
  const pause = new BackgroundPause(
    { pause: () => calls.push('pause'), resume: () => calls.push('resume'), catchUp: () => calls.push('catchUp'), keepRunning: () => listening },
    doc,
  );
  doc.set('hidden');
  assert.equal(pause.paused, true);
  doc.set('hidden'); // a second hidden event (some browsers send one per frame change) changes nothing
  doc.set('visible');
  assert.equal(pause.paused, false);
  assert.deepEqual(calls, ['pause', 'resume']);

  calls.length = 0;
  listening = true;
  doc.set('hidden');
  assert.equal(pause.paused, false, 'sound on: keeps running hidden');
  doc.set('visible');
  assert.deepEqual(calls, ['catchUp']);

  pause.destroy();
  assert.equal(doc.listenerCount, 0);
});

/** A wake lock API that records requests and lets the test release sentinels as the browser would. */
function fakeWakeLockEnv(options: { refuse?: boolean } = {}) {
  const doc = new FakeDocument();
  const sentinels: (WakeLockSentinelLike & { released: boolean; browserRelease(): void })[] = [];
  const timers = new Map<number, () => void>();
  let nextTimer = 1;
  const env: WakeLockEnvironment = {
    wakeLock: {
      request: async (type) => {
        assert.equal(type, 'screen');
        if (options.refuse) throw new Error('NotAllowedError');
        const sentinel = {
          released: false,
          async release() {
            sentinel.released = true;
          },
          browserRelease() {
            sentinel.released = true;
          },
        };
        sentinels.push(sentinel);
        return sentinel;
      },
    },
    document: doc,
    setTimeout: (fn, ms) => {
      assert.equal(ms, RELEASE_DELAY_MS);
      const id = nextTimer++;
      timers.set(id, fn);
      return id;
    },
    clearTimeout: (id) => void timers.delete(id),
  };
  const runTimers = () => {
    const pending = [...timers.values()];
    timers.clear();
    for (const fn of pending) fn();
  };
  return { env, doc, sentinels, runTimers, timers };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('wake lock: held while wanted, asked for again after the page comes back, let go late after a blip, at once on leaving', async () => {
  const { env, doc, sentinels, runTimers, timers } = fakeWakeLockEnv();
  const lock = new ScreenWakeLock(env);
  lock.set(true);
  lock.set(true);
  await settle();
  assert.equal(sentinels.length, 1, 'one request, however often it is wanted');
  assert.equal(lock.held, true);

  // Hidden: the browser lets go by itself; visible again: asked for again.
  doc.set('hidden');
  sentinels[0]!.browserRelease();
  assert.equal(lock.held, false);
  doc.set('visible');
  await settle();
  assert.equal(sentinels.length, 2);
  assert.equal(lock.held, true);

  // A reconnect: not wanted for a moment, then wanted again before the delay ends: kept throughout.
  lock.set(false);
  assert.equal(timers.size, 1);
  lock.set(true);
  assert.equal(timers.size, 0);
  assert.equal(sentinels[1]!.released, false);

  // Not wanted for good: let go once the delay has run out.
  lock.set(false);
  runTimers();
  await settle();
  assert.equal(sentinels[1]!.released, true);
  assert.equal(lock.held, false);
  doc.set('visible');
  await settle();
  assert.equal(sentinels.length, 2, 'not asked for again when nothing plays');

  lock.set(true);
  await settle();
  assert.equal(lock.held, true);
  lock.destroy();
  assert.equal(sentinels[2]!.released, true, 'leaving the page lets go at once');
  assert.equal(doc.listenerCount, 0);
});

test('wake lock: not asked for while hidden; a refusal or a missing API is harmless', async () => {
  const hidden = fakeWakeLockEnv();
  hidden.doc.visibilityState = 'hidden';
  const lock = new ScreenWakeLock(hidden.env);
  lock.set(true);
  await settle();
  assert.equal(hidden.sentinels.length, 0);
  hidden.doc.set('visible');
  await settle();
  assert.equal(hidden.sentinels.length, 1);
  lock.destroy();

  const refused = fakeWakeLockEnv({ refuse: true });
  const refusedLock = new ScreenWakeLock(refused.env);
  refusedLock.set(true);
  await settle();
  assert.equal(refusedLock.held, false);
  refusedLock.destroy();

  const none = fakeWakeLockEnv();
  const noApi = new ScreenWakeLock({ ...none.env, wakeLock: undefined });
  noApi.set(true);
  await settle();
  assert.equal(noApi.held, false);
  noApi.destroy();
});

test('wake lock: leaving while the request is on its way lets go of what it brings', async () => {
  const { env, sentinels } = fakeWakeLockEnv();
  const lock = new ScreenWakeLock(env);
  lock.set(true);
  lock.destroy();
  await settle();
  assert.equal(sentinels.length, 1);
  assert.equal(sentinels[0]!.released, true);
});

test('media source: ManagedMediaSource wherever it exists (iPhone: only it; Safari: both), else MediaSource', () => {
  class MSE {}
  class Managed {}
  const iphone: { MediaSource?: unknown; ManagedMediaSource?: unknown } = { ManagedMediaSource: Managed };
  assert.equal(selectMediaSource(iphone), 'managed');
  assert.equal(iphone.MediaSource, Managed, 'jmuxer builds window.MediaSource: it must be the managed one');
  const safari: { MediaSource?: unknown; ManagedMediaSource?: unknown } = { MediaSource: MSE, ManagedMediaSource: Managed };
  assert.equal(selectMediaSource(safari), 'managed');
  assert.equal(safari.MediaSource, Managed);
  const chromium: { MediaSource?: unknown } = { MediaSource: MSE };
  assert.equal(selectMediaSource(chromium), 'standard');
  assert.equal(chromium.MediaSource, MSE);
  assert.equal(selectMediaSource({}), null);
  assert.equal(mediaSourceAvailable({}), false);
  assert.equal(mediaSourceAvailable({ ManagedMediaSource: Managed }), true);
});

test('service worker policy: only the shell of this build is cached; /api, the live socket and share pages never', () => {
  const origin = 'https://cams.example';
  const shell = ['/', '/app.js?v=abc123abc123', '/app.css?v=def456def456', '/favicon.svg', '/manifest.webmanifest', '/icons/icon-192.png'];
  const act = (path: string, mode = 'no-cors', method = 'GET', base = origin) => swAction({ url: base + path, method, mode }, shell, origin).kind;

  for (const page of ['/', '/login', '/cameras/abc', '/admin/users']) assert.equal(act(page, 'navigate'), 'page', page);
  for (const live of ['/api/auth/me', '/api/cameras', '/api/cameras/abc/live', '/api', '/api/share']) {
    assert.equal(act(live, 'cors'), 'network', live);
    assert.equal(act(live, 'navigate'), 'network', `${live} opened as a page`);
  }
  assert.equal(act('/s/shr1', 'navigate'), 'network', 'share pages are never stored nor served from the cache');
  assert.equal(act('/s/shr1#token', 'navigate'), 'network');
  assert.equal(act('/app.js?v=abc123abc123'), 'shell-asset');
  assert.equal(act('/icons/icon-192.png'), 'shell-asset');
  assert.equal(act('/app.js?v=000000000000'), 'network', 'another build’s file is not this cache’s');
  assert.equal(act('/app.js'), 'network');
  assert.equal(act('/app.js.map'), 'network');
  assert.equal(act('/', 'navigate', 'POST'), 'network');
  assert.equal(act('/app.js?v=abc123abc123', 'no-cors', 'GET', 'https://elsewhere.example'), 'network');
  assert.equal(swAction({ url: 'not a url', method: 'GET', mode: 'navigate' }, shell, origin).kind, 'network');

  assert.deepEqual(staleCaches([cacheName('v1'), cacheName('v2'), 'someone-else', cacheName('v3')], 'v2'), [cacheName('v1'), cacheName('v3')]);
});

test('service worker static routes cover exactly the paths the fetch handler leaves alone', () => {
  // URLPattern pathnames as used here: exact, or a prefix ending in "/*".
  const matches = (path: string) => LIVE_OR_PRIVATE_PATTERNS.some((p) => (p.endsWith('/*') ? path.startsWith(p.slice(0, -1)) : path === p));
  for (const path of ['/api', '/api/', '/api/auth/me', '/api/cameras/x/live', '/s', '/s/', '/s/shr1', '/', '/login', '/app.js', '/apis', '/sx', '/cameras/s', '/icons/icon-192.png']) {
    assert.equal(matches(path), isLiveOrPrivate(path), path);
  }
});
