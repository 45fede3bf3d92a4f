import { api, ApiRequestError, setUnauthenticatedHandler } from './api.ts';
import { h, replaceChildren } from './dom.ts';
import { appHeader } from './pages/layout.ts';
import { adminCamerasPage } from './pages/admin-cameras.ts';
import { cameraPage } from './pages/camera.ts';
import { camerasPage } from './pages/cameras.ts';
import { loginPage } from './pages/login.ts';
import { notFoundPage } from './pages/not-found.ts';
import { shareViewerPage } from './pages/share-viewer.ts';
import { sharesPage } from './pages/shares.ts';
import { usersPage } from './pages/users.ts';
import type { Page, PageFactory } from './page.ts';
import { CAMERA_PAGE_PATH, SHARE_PAGE_PATH } from './paths.ts';
import { registerServiceWorker } from './pwa/register.ts';
import { Router } from './router.ts';
import { setSignedInUser, signedInUser } from './session.ts';

/**
 * The app shell: routes, the signed-in user, the header, and swapping pages (each page disposes its
 * players and timers when left). Pages the relay serves index.html for: keep in sync with
 * relay-server/src/routes/web.ts PAGE_ROUTES.
 */

interface RouteDef {
  path: string;
  page: PageFactory;
  /** public pages need no session (login, share links) */
  access: 'public' | 'session' | 'admin';
}

const routes: RouteDef[] = [
  { path: '/', page: camerasPage, access: 'session' },
  { path: '/login', page: loginPage, access: 'public' },
  { path: CAMERA_PAGE_PATH, page: cameraPage, access: 'session' },
  { path: '/admin/cameras', page: adminCamerasPage, access: 'admin' },
  { path: '/admin/cameras/:id/shares', page: sharesPage, access: 'admin' },
  { path: '/admin/users', page: usersPage, access: 'admin' },
  { path: SHARE_PAGE_PATH, page: shareViewerPage, access: 'public' },
];

const root = document.getElementById('app')!;
let current: Page | null = null;
let renderToken = 0;

const router = new Router(routes, (match, url) => void render(match?.route ?? null, match?.params ?? {}, url));

setUnauthenticatedHandler(() => {
  setSignedInUser(null);
  if (location.pathname !== '/login') router.navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
});

async function render(route: RouteDef | null, params: Record<string, string>, url: URL): Promise<void> {
  const token = ++renderToken;
  current?.dispose?.();
  current = null;

  if (route && route.access !== 'public' && !signedInUser()) {
    try {
      setSignedInUser((await api.me()).user);
    } catch (err) {
      if (token !== renderToken) return;
      if (err instanceof ApiRequestError && err.status === 401) return; // the handler went to /login
      showPage({ el: h('main', { class: 'page' }, h('p', { class: 'form-message error', testid: 'app-error' }, (err as Error).message)), title: 'Error' }, true);
      return;
    }
    if (token !== renderToken) return;
  }

  const user = signedInUser();
  const ctx = {
    params,
    url,
    user,
    navigate: (path: string, replace = false) => router.navigate(path, replace),
  };
  if (route?.access === 'admin' && user?.role !== 'admin') {
    showPage(notFoundPage(ctx, 'This page is for administrators.'), true);
    return;
  }
  const page = route ? route.page(ctx) : notFoundPage(ctx);
  showPage(page, route?.access !== 'public');
}

function showPage(page: Page, withHeader: boolean): void {
  current = page;
  document.title = page.title ? `${page.title} · picam` : 'picam';
  const user = signedInUser();
  const header =
    withHeader && user
      ? appHeader(user, location.pathname, async () => {
          await api.logout().catch(() => {});
          setSignedInUser(null);
          router.navigate('/login');
        })
      : null;
  replaceChildren(root, header, page.el);
}

// A camera page's or share link's live socket is already opening: boot.ts, which ran before this bundle.
router.start();
registerServiceWorker();
