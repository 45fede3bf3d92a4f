import { startEarlyFetch } from './early-fetch.ts';
import { CAMERA_PAGE_PATH, SHARE_PAGE_PATH } from './paths.ts';
import { openLiveSocketEarly } from './player/live-socket-url.ts';
import { matchPath } from './router.ts';
import { cameraOfShareToken, shareTokenOf } from './share-link.ts';

/**
 * The boot script: its own bundle of ~4.7 KB (2.2 KB gzipped) that the build puts inline at the top
 * of index.html (the relay's CSP allows it by its hash, computed as it serves the page), so it runs
 * while the page is parsed, before the app bundle (~180 KB) has arrived. It opens the page's live
 * socket at once (player/early-socket.ts), which the page's player claims, and starts the request
 * the page waits for before it renders (early-fetch.ts): on a camera page the session check, on a
 * share link the link's lookup, with the camera and the token read from the link (share-link.ts).
 * Nothing else belongs here: everything in this file delays the socket it exists to open.
 */
const camera = matchPath(CAMERA_PAGE_PATH, location.pathname);
if (camera?.id) {
  openLiveSocketEarly(camera.id);
  startEarlyFetch('/api/auth/me');
} else if (matchPath(SHARE_PAGE_PATH, location.pathname)) {
  const token = shareTokenOf(location.hash);
  const sharedCamera = cameraOfShareToken(token);
  if (sharedCamera) {
    // A clip link has no live picture: the share page closes this socket once its lookup says so.
    openLiveSocketEarly(sharedCamera, token);
    startEarlyFetch('/api/share', token);
  }
}
