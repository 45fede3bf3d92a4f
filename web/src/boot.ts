import { startEarlyFetch } from './early-fetch.ts';
import { CAMERA_PAGE_PATH } from './paths.ts';
import { openLiveSocketEarly } from './player/live-socket-url.ts';
import { matchPath } from './router.ts';

/**
 * The boot script: its own bundle of ~2.5 KB that the build puts inline at the top of
 * index.html (the relay's CSP allows it by its hash), so it runs while the page is parsed, before
 * the app bundle (~110 KB) has arrived. On a camera page
 * it opens the live socket at once (player/early-socket.ts), which the page's player claims, and
 * starts the session check the page waits for before it renders (early-fetch.ts). Nothing else
 * belongs here: everything in this file delays the socket it exists to open.
 */
const camera = matchPath(CAMERA_PAGE_PATH, location.pathname);
if (camera?.id) {
  openLiveSocketEarly(camera.id);
  startEarlyFetch('/api/auth/me');
}
