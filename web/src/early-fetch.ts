/**
 * A GET the boot script (boot.ts) starts before the app bundle has downloaded, for the app's first
 * `request()` of the same path (and the same share token, if any) to use instead of asking again:
 * on a camera page, the session check (`/api/auth/me`), which the page waits for before it renders
 * and creates its player; on a share link, the link's lookup (`GET /api/share` with the token as
 * Bearer), which the share page waits for likewise. Each is used once; later requests of the path
 * go to the network as usual.
 *
 * Kept on `globalThis` because the boot script and the app are two bundles (as early-socket.ts).
 */

const SLOT = Symbol.for('picam.earlyFetch');
const shared = globalThis as { [SLOT]?: Map<string, Promise<Response>> };

/** What `request()` sends for a session GET, so an early answer is the same answer. */
export const SESSION_GET: RequestInit = { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };

/** What `request()` sends for a GET with a share token instead of the session cookie. */
export function bearerGet(token: string): RequestInit {
  return { headers: { Accept: 'application/json', Authorization: `Bearer ${token}` }, credentials: 'omit', cache: 'no-store' };
}

/** An answer asked for with one token is never handed to a request with another (or none). */
const keyOf = (path: string, bearer: string | undefined) => (bearer === undefined ? path : `${path} ${bearer}`);

export function startEarlyFetch(path: string, bearer?: string): void {
  const early = (shared[SLOT] ??= new Map());
  const response = fetch(path, bearer === undefined ? SESSION_GET : bearerGet(bearer));
  // Never an unhandled rejection if the app does not come to claim it; the claimer sees the error.
  response.catch(() => {});
  early.set(keyOf(path, bearer), response);
}

export function claimEarlyFetch(path: string, bearer?: string): Promise<Response> | undefined {
  const early = shared[SLOT];
  const key = keyOf(path, bearer);
  const response = early?.get(key);
  early?.delete(key);
  return response;
}
