/**
 * What the service worker (sw.ts) does with each request, as a pure function so it can be tested
 * without a browser. The rule: live data never goes near the cache. Only the app shell of one build
 * (index.html, the versioned app.js/app.css, icons, manifest) is stored; /api/* (JSON, the live
 * WebSocket's upgrade) and share pages (/s/..., whose token rides in the fragment) are left to the
 * network untouched, not even passed through the worker.
 */

export type SwAction =
  /** not ours to answer: the browser goes to the network as if there were no worker */
  | { kind: 'network' }
  /** a page of the app: the network first, the stored shell only when the network fails */
  | { kind: 'page' }
  /** a file of the stored shell: from the cache at once, refreshed in the background */
  | { kind: 'shell-asset' };

export interface SwRequest {
  url: string;
  method: string;
  /** Request.mode: 'navigate' for a page load */
  mode: string;
}

/** Paths whose answers must never be stored or served from a cache. */
export function isLiveOrPrivate(pathname: string): boolean {
  return pathname === '/api' || pathname.startsWith('/api/') || pathname === '/s' || pathname.startsWith('/s/');
}

/** The same paths as URLPattern pathnames, for the browser's static routing (sw.ts). */
export const LIVE_OR_PRIVATE_PATTERNS = ['/api', '/api/*', '/s', '/s/*'] as const;

/**
 * `shell`: the build's list (sw.ts gets it from the build), each a path with its query (`/app.js?v=…`).
 * `origin`: the worker's own origin; anything else is never touched.
 */
export function swAction(request: SwRequest, shell: readonly string[], origin: string): SwAction {
  if (request.method !== 'GET') return { kind: 'network' };
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return { kind: 'network' };
  }
  if (url.origin !== origin || isLiveOrPrivate(url.pathname)) return { kind: 'network' };
  if (request.mode === 'navigate') return { kind: 'page' };
  return shell.includes(url.pathname + url.search) ? { kind: 'shell-asset' } : { kind: 'network' };
}

/** The build's shell files: where the page's fallback (index.html) is stored. */
export const SHELL_PAGE = '/';

/** Cache names this worker owns: `picam-shell-<version>`; activate deletes the other versions. */
const CACHE_PREFIX = 'picam-shell-';

export function cacheName(version: string): string {
  return `${CACHE_PREFIX}${version}`;
}

/** Caches of older builds (ours, not the current one), to delete on activate. */
export function staleCaches(names: readonly string[], version: string): string[] {
  return names.filter((name) => name.startsWith(CACHE_PREFIX) && name !== cacheName(version));
}
