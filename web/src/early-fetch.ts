/**
 * A GET the boot script (boot.ts) starts before the app bundle has downloaded, for the app's first
 * `request()` of the same path to use instead of asking again: on a camera page, the session check
 * (`/api/auth/me`), which the page waits for before it renders and creates its player. Each is used
 * once; later requests of the path go to the network as usual.
 *
 * Kept on `globalThis` because the boot script and the app are two bundles (as early-socket.ts).
 */

const SLOT = Symbol.for('picam.earlyFetch');
const shared = globalThis as { [SLOT]?: Map<string, Promise<Response>> };

/** What `request()` sends for a session GET, so an early answer is the same answer. */
export const SESSION_GET: RequestInit = { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };

export function startEarlyFetch(path: string): void {
  const early = (shared[SLOT] ??= new Map());
  const response = fetch(path, SESSION_GET);
  // Never an unhandled rejection if the app does not come to claim it; the claimer sees the error.
  response.catch(() => {});
  early.set(path, response);
}

export function claimEarlyFetch(path: string): Promise<Response> | undefined {
  const early = shared[SLOT];
  const response = early?.get(path);
  early?.delete(path);
  return response;
}
