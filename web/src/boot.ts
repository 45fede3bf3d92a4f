import { startEarlyFetch } from './early-fetch.ts';
import { CAMERA_PAGE_PATH } from './paths.ts';
import { openLiveSocketEarly } from './player/live-socket-url.ts';
import { matchPath } from './router.ts';

/**
 * The boot script: its own bundle of about a kilobyte, a classic script at the top of index.html,
 * so it runs while the app bundle (~110 KB) is still downloading and being parsed. On a camera page
 * it opens the live socket at once (player/early-socket.ts), which the page's player claims, and
 * starts the session check the page waits for before it renders (early-fetch.ts). Nothing else
 * belongs here: everything in this file delays the socket it exists to open.
 */
const camera = matchPath(CAMERA_PAGE_PATH, location.pathname);
if (camera?.id) {
  openLiveSocketEarly(camera.id);
  startEarlyFetch('/api/auth/me');
}
