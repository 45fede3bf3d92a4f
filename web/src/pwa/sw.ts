import { LIVE_OR_PRIVATE_PATTERNS, SHELL_PAGE, cacheName, staleCaches, swAction } from './sw-policy.ts';

/**
 * The service worker, served as /sw.js (scope /). It makes the app installable and lets an installed
 * app open its shell while the relay is unreachable; it never stores live data (sw-policy.ts says
 * what it touches). The build (web/build.mjs) defines __PICAM_SHELL__: this build's shell files and a
 * version hashed from them, so a new build is a new sw.js, which the browser installs beside the old
 * one; on activate the old build's cache is deleted.
 *
 * Pages load network-first with navigation preload (the page request starts while the worker boots);
 * the stored index.html is only the fallback when the network fails or a proxy says the relay is
 * down (502-504); the app then loads and says the relay did not answer. The worker does not claim open pages: a page is controlled from
 * its next load.
 */

declare const __PICAM_SHELL__: { version: string; files: string[] };

// The DOM lib has no service worker types and cannot be mixed with the WebWorker lib in one
// program: the few members used here, typed by hand.
interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
/** Static routing (Chromium 123+): requests matched here never wake the worker at all. */
interface InstallEvent extends ExtendableEvent {
  addRoutes?(rules: { condition: { urlPattern: unknown }; source: 'network' }[]): Promise<void>;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  readonly preloadResponse: Promise<Response | undefined>;
  respondWith(response: Promise<Response>): void;
}
interface WorkerScope {
  readonly location: Location;
  readonly registration: { navigationPreload?: { enable(): Promise<void> } };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install', listener: (event: InstallEvent) => void): void;
  addEventListener(type: 'activate', listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;
}

const worker = self as unknown as WorkerScope;
const { version, files } = __PICAM_SHELL__;
const CACHE = cacheName(version);

worker.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      await bypassWorker(event);
      const cache = await caches.open(CACHE);
      // `cache: 'no-cache'`: revalidate, so a stale HTTP-cached index.html is never stored as this build's.
      await cache.addAll(files.map((path) => new Request(path, { cache: 'no-cache' })));
      // The shell is consistent by construction (one build): no reason to wait for old tabs to close.
      await worker.skipWaiting();
    })(),
  );
});

/**
 * The API and share pages go straight to the network where the browser can be told so: otherwise
 * each API call would still wait for the worker's fetch handler to say "not mine" (sw-policy.ts
 * answers the same for browsers without static routing).
 */
async function bypassWorker(event: InstallEvent): Promise<void> {
  const Pattern = (globalThis as { URLPattern?: new (init: { pathname: string }) => unknown }).URLPattern;
  if (!event.addRoutes || !Pattern) return;
  try {
    await event.addRoutes(LIVE_OR_PRIVATE_PATTERNS.map((pathname) => ({ condition: { urlPattern: new Pattern({ pathname }) }, source: 'network' })));
  } catch (err) {
    console.warn('picam: service worker static routes not set:', err instanceof Error ? err.message : err);
  }
}

worker.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      await Promise.all(staleCaches(await caches.keys(), version).map((name) => caches.delete(name)));
      await worker.registration.navigationPreload?.enable().catch(() => {});
    })(),
  );
});

worker.addEventListener('fetch', (event) => {
  const action = swAction(event.request, files, worker.location.origin);
  if (action.kind === 'page') event.respondWith(page(event));
  else if (action.kind === 'shell-asset') event.respondWith(shellAsset(event));
  // 'network': no respondWith, the browser fetches as if there were no worker. A page left to the
  // network (a share link) still had its navigation preload started: let it settle rather than be
  // cancelled (which the browser reports as an error).
  else if (event.request.mode === 'navigate') event.waitUntil(event.preloadResponse.catch(() => undefined));
});

/** What a proxy in front of a stopped relay answers: the stored shell does better (it says so itself). */
const RELAY_DOWN = new Set([502, 503, 504]);

async function page(event: FetchEvent): Promise<Response> {
  const stored = () => caches.match(SHELL_PAGE, { cacheName: CACHE });
  try {
    const response = (await event.preloadResponse) ?? (await fetch(event.request));
    return RELAY_DOWN.has(response.status) ? ((await stored()) ?? response) : response;
  } catch (err) {
    const shell = await stored();
    if (shell) return shell;
    throw err;
  }
}

/** Stale-while-revalidate; the versioned files never change, so the refresh is an HTTP-cache hit. */
async function shellAsset(event: FetchEvent): Promise<Response> {
  const cache = await caches.open(CACHE);
  const stored = await cache.match(event.request);
  const refresh = fetch(event.request).then(async (response) => {
    if (response.ok) await cache.put(event.request, response.clone());
    return response;
  });
  if (stored) {
    event.waitUntil(refresh.catch(() => {}));
    return stored;
  }
  return refresh;
}
