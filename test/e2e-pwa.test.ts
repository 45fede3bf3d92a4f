import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { REPO_ROOT } from './helpers/agent-process.ts';
import { ADMIN_PASSWORD, expectLiveVideo, launchBrowser, playerStats, screenshot, startRelayWithWeb, step, type RelayProcess } from './helpers/browser.ts';
import { api, startStreamingCamera } from './helpers/camera-setup.ts';

/**
 * The app on a phone, in a real Chromium against the real relay CLI and an agent streaming the fake
 * camera: it installs (manifest, icons, a service worker that keeps its hands off live data), the
 * header fits one row at 390x844, a background tab lets go of the stream and comes back at the live
 * edge, the screen is kept on while watching, and an iPhone-like browser (ManagedMediaSource only,
 * no WebCodecs) plays inline and muted.
 *
 * Headless Chromium has no background tabs (every page reports "visible", whatever is done to its
 * window), so the page is told it is hidden the way a browser tells it: `document.visibilityState`
 * and a `visibilitychange` event (an init script makes the property settable). Everything after that,
 * the socket closing, the relay counting the viewer out, the reconnect, is the real thing.
 */

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };
const DESKTOP = { viewport: { width: 1280, height: 800 } };

/** Lets the test hide the page (see the top), and records wake lock requests and releases. */
const PAGE_HOOKS = () => {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  const log: { requestedAt: number; releasedAt: number | null }[] = [];
  const sentinels: { release(): Promise<void>; onRelease(): void }[] = [];
  // The wake lock a real phone browser gives: released by the browser when the page is hidden.
  // (Headless Chromium refuses real requests: it has no screen to keep on.)
  const wakeLock = {
    async request(type: string) {
      if (type !== 'screen') throw new TypeError(`wake lock type ${type}`);
      if (hidden) throw new DOMException('the page is hidden', 'NotAllowedError');
      const entry = { requestedAt: Date.now(), releasedAt: null as number | null };
      log.push(entry);
      const listeners: (() => void)[] = [];
      const sentinel = {
        type: 'screen',
        get released() {
          return entry.releasedAt !== null;
        },
        addEventListener: (_type: string, listener: () => void) => listeners.push(listener),
        removeEventListener: () => {},
        onRelease() {
          if (entry.releasedAt !== null) return;
          entry.releasedAt = Date.now();
          for (const listener of listeners) listener();
        },
        async release() {
          sentinel.onRelease();
        },
      };
      sentinels.push(sentinel);
      return sentinel;
    },
  };
  Object.defineProperty(Navigator.prototype, 'wakeLock', { configurable: true, get: () => wakeLock });
  Object.assign(window, {
    __wakeLockLog: log,
    __setHidden(value: boolean) {
      hidden = value;
      if (hidden) for (const s of sentinels) s.onRelease();
      document.dispatchEvent(new Event('visibilitychange'));
    },
  });
};

/** An iPhone's media APIs: no WebCodecs, no MediaSource, only ManagedMediaSource (here a MediaSource underneath). */
const IPHONE_MEDIA = () => {
  const Original = window.MediaSource;
  const made: string[] = [];
  class ManagedMediaSource extends Original {
    constructor() {
      super();
      made.push('ManagedMediaSource');
    }
  }
  const w = window as unknown as Record<string, unknown>;
  delete w.MediaSource;
  delete w.VideoDecoder;
  delete w.EncodedVideoChunk;
  delete w.AudioDecoder;
  w.ManagedMediaSource = ManagedMediaSource;
  w.__mediaSourcesMade = made;
};

/**
 * An init script from a function. tsx compiles this file with esbuild's keepNames, which wraps
 * functions in a `__name` helper the page does not have: define it first.
 */
function initScript(fn: () => void): { content: string } {
  return { content: `(() => { const __name = (f) => f; (${fn.toString()})(); })();` };
}

declare global {
  interface Window {
    __wakeLockLog?: { requestedAt: number; releasedAt: number | null }[];
    __setHidden?(hidden: boolean): void;
    __mediaSourcesMade?: string[];
  }
}


/** A camera created and enrolled through the API, its agent streaming the fake camera. */
async function startCamera(t: TestContext, relay: RelayProcess, token: string): Promise<string> {
  const { id } = await startStreamingCamera(t, relay, token, { name: 'Hallway', audio: false });
  // Streaming before any page opens: this file is about the phone, not about joining a camera that
  // is still connecting.
  await waitFor('the camera to stream', 30_000, async () => {
    const res = await api(relay, 'GET', `/api/cameras/${id}`, undefined, token);
    return res.status === 200 && res.json.camera.status.online === true && res.json.camera.status.lastFrameAt !== null;
  });
  return id;
}

async function logIn(page: Page, relay: RelayProcess): Promise<void> {
  await page.goto(`${relay.url}/login`);
  await page.getByTestId('login-username').fill('admin');
  await page.getByTestId('login-password').fill(ADMIN_PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('page-cameras').waitFor();
}

/** Width and height from a PNG's IHDR chunk (throws when the bytes are not a PNG). */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.ok(signature.every((b, i) => bytes[i] === b), 'a PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(String.fromCharCode(...bytes.subarray(12, 16)), 'IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** A custom property's value in the light theme of web/src/styles/app.css. */
function cssColour(name: string): string {
  const css = readFileSync(join(REPO_ROOT, 'web/src/styles/app.css'), 'utf8');
  const match = new RegExp(`${name}:\\s*(#[0-9a-fA-F]{3,8})`).exec(css);
  assert.ok(match, `app.css defines ${name}`);
  return match[1]!.toLowerCase();
}

async function latencySamples(page: Page, cameraId: string, count: number): Promise<number[]> {
  const samples: number[] = [];
  let lastSequence = -1;
  while (samples.length < count) {
    const s = await page.evaluate((id) => {
      const p = (window.__picam?.players ?? []).find((x) => x.root.dataset.cameraId === id);
      const stats = p?.stats() as unknown as { latencyMs: number | null; lastFrameSequence: number } | undefined;
      return stats ? { latency: stats.latencyMs, sequence: stats.lastFrameSequence } : null;
    }, cameraId);
    if (s && s.latency !== null && s.sequence !== lastSequence) {
      samples.push(s.latency);
      lastSequence = s.sequence;
    }
    await page.waitForTimeout(50);
  }
  return samples;
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

async function viewersOf(relay: RelayProcess, token: string, cameraId: string): Promise<number> {
  const res = await api(relay, 'GET', `/api/cameras/${cameraId}`, undefined, token);
  assert.equal(res.status, 200);
  return res.json.camera.status.viewers as number;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('phone: installable, one-row header, background tab at the live edge, screen kept on, iPhone media path', { timeout: 240_000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const relay = await startRelayWithWeb(t);
  const login = await api(relay, 'POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
  assert.equal(login.status, 200, 'admin login');
  const token = login.json.token as string;
  const cameraId = await startCamera(t, relay, token);

  const phone: BrowserContext = await browser.newContext(PHONE);
  await phone.addInitScript(initScript(PAGE_HOOKS));
  const page = await phone.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });

  await step(page, 'the manifest is linked, valid, and its icons are PNGs of the sizes it says', async () => {
    await logIn(page, relay);
    const href = await page.locator('link[rel="manifest"]').getAttribute('href');
    assert.equal(href, '/manifest.webmanifest');
    const res = await fetch(`${relay.url}${href}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/manifest+json');
    const manifest = (await res.json()) as {
      name: string;
      short_name: string;
      start_url: string;
      display: string;
      theme_color: string;
      background_color: string;
      icons: { src: string; sizes: string; type: string; purpose?: string }[];
    };
    assert.equal(manifest.name, 'picam');
    assert.ok(manifest.short_name && manifest.short_name.length <= 12, 'a short name that fits under a home-screen icon');
    assert.equal(manifest.start_url, '/');
    assert.equal(manifest.display, 'standalone');
    assert.equal(manifest.background_color.toLowerCase(), cssColour('--bg'), 'splash background: the page background');
    assert.equal(manifest.theme_color.toLowerCase(), cssColour('--surface'), 'title bar: the header colour');
    const pngs = manifest.icons.filter((icon) => icon.type === 'image/png');
    for (const size of ['192x192', '512x512']) assert.ok(pngs.some((i) => i.sizes === size && (i.purpose ?? 'any').includes('any')), `a ${size} icon`);
    assert.ok(pngs.some((i) => i.purpose?.includes('maskable')), 'a maskable icon');
    for (const icon of pngs) {
      const r = await fetch(new URL(icon.src, relay.url));
      assert.equal(r.status, 200, icon.src);
      assert.equal(r.headers.get('content-type'), 'image/png', icon.src);
      const { width, height } = pngSize(new Uint8Array(await r.arrayBuffer()));
      assert.equal(`${width}x${height}`, icon.sizes, icon.src);
    }
    // What Chromium itself makes of it (the install prompt's own checks).
    const cdp = await phone.newCDPSession(page);
    const parsed = (await cdp.send('Page.getAppManifest')) as { url: string; errors: { message: string; critical: number }[] };
    assert.equal(parsed.url, `${relay.url}/manifest.webmanifest`);
    assert.deepEqual(parsed.errors, [], 'Chromium finds no error in the manifest');
    const installability = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: { errorId: string }[] };
    // 'in-incognito': a test's browser context is a private one, where nothing installs; any other
    // reason (manifest, icons, worker, start_url) would be ours.
    const installErrors = installability.installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito');
    assert.deepEqual(installErrors, [], `Chromium would offer to install it (it says: ${installErrors.join(', ')})`);
  });

  await step(page, 'the service worker takes over the next load and keeps its hands off /api and the live socket', async () => {
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    assert.equal(scope, `${relay.url}/`);
    const responses: { url: string; fromWorker: boolean; status: number }[] = [];
    page.on('response', (r) => responses.push({ url: r.url(), fromWorker: r.fromServiceWorker(), status: r.status() }));
    const sockets: string[] = [];
    let socketFrames = 0;
    page.on('websocket', (ws) => {
      sockets.push(ws.url());
      ws.on('framereceived', () => socketFrames++);
    });
    await page.goto(`${relay.url}/cameras/${cameraId}`);
    assert.equal(await page.evaluate(() => navigator.serviceWorker.controller !== null), true, 'the page is controlled by the worker');
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
    const pageLoad = responses.find((r) => r.url === `${relay.url}/cameras/${cameraId}`);
    assert.ok(pageLoad?.fromWorker, 'the page itself came through the worker (network first)');
    const apiCalls = responses.filter((r) => new URL(r.url).pathname.startsWith('/api/'));
    assert.ok(apiCalls.length > 0, 'the page called the API');
    assert.deepEqual(apiCalls.filter((r) => r.fromWorker).map((r) => r.url), [], 'no API answer came from the worker');
    assert.ok(sockets.some((u) => u.endsWith(`/api/cameras/${cameraId}/live`)) && socketFrames > 0, 'the live socket went to the relay');
    // A share link: the page and everything it loads bypass the worker, and nothing of it is stored.
    const share = await api(relay, 'POST', `/api/cameras/${cameraId}/shares`, { label: 'phone test', expiresIn: 600 }, token);
    assert.equal(share.status, 201, `create share: ${JSON.stringify(share.json)}`);
    const shareUrl = new URL(share.json.url as string, relay.url);
    responses.length = 0;
    await page.goto(`${relay.url}${shareUrl.pathname}${shareUrl.hash}`);
    await page.getByTestId('page-share').waitFor();
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
    await screenshot(page, 'e2e-pwa-390x844-share');
    const shareHeader = await page.evaluate(() => {
      const header = document.querySelector('.share-header')!;
      const rects = [...header.children].filter((el) => el.getClientRects().length > 0).map((el) => el.getBoundingClientRect());
      const centres = rects.map((r) => r.top + r.height / 2);
      return { spread: Math.max(...centres) - Math.min(...centres), right: Math.max(...rects.map((r) => r.right)), width: window.innerWidth };
    });
    assert.ok(shareHeader.spread < 4 && shareHeader.right <= shareHeader.width, `the share page header is one row within the screen: ${JSON.stringify(shareHeader)}`);
    const shareLoad = responses.find((r) => new URL(r.url).pathname === shareUrl.pathname);
    assert.equal(shareLoad?.fromWorker, false, 'the share page came straight from the relay');
    assert.deepEqual(responses.filter((r) => r.fromWorker && new URL(r.url).pathname.startsWith('/api/')).map((r) => r.url), []);
    const cached = await page.evaluate(async () => {
      const urls: string[] = [];
      for (const name of await caches.keys()) for (const req of await (await caches.open(name)).keys()) urls.push(`${name} ${new URL(req.url).pathname}${new URL(req.url).search}`);
      return urls;
    });
    assert.ok(cached.length > 0, 'the app shell is stored');
    for (const entry of cached) {
      const path = entry.split(' ')[1]!;
      assert.doesNotMatch(path, /^\/(api|s)(\/|$)/, `nothing live or private in the cache: ${entry}`);
      assert.match(path, /^\/($|app\.(js|css)\?v=|favicon\.svg$|manifest\.webmanifest$|icons\/)/, `only the app shell: ${entry}`);
    }
  });

  await step(page, 'the header is one row at 390x844 (and at 1280x800)', async () => {
    await page.goto(`${relay.url}/`);
    await page.getByTestId('nav-logout').waitFor();
    await screenshot(page, 'e2e-pwa-390x844-grid');
    const oneRow = () =>
      page.evaluate(() => {
        const header = document.querySelector('.app-header')!;
        const items = [...header.querySelectorAll<HTMLElement>('.brand, nav a, [data-testid="nav-logout"]')].filter((el) => el.getClientRects().length > 0);
        const rects = items.map((el) => el.getBoundingClientRect());
        const tallest = Math.max(...rects.map((r) => r.height));
        const centres = rects.map((r) => r.top + r.height / 2);
        return {
          items: items.length,
          headerHeight: header.getBoundingClientRect().height,
          tallest,
          centreSpread: Math.max(...centres) - Math.min(...centres),
          overflowsPage: document.documentElement.scrollWidth > window.innerWidth,
        };
      });
    const phoneRow = await oneRow();
    assert.equal(phoneRow.items, 5, 'brand, three nav links and the logout button are all there');
    assert.ok(phoneRow.centreSpread < 4, `all on one line (centres spread over ${phoneRow.centreSpread} px)`);
    assert.ok(phoneRow.headerHeight < phoneRow.tallest * 2, `header ${phoneRow.headerHeight} px for items of ${phoneRow.tallest} px: one row`);
    assert.equal(phoneRow.overflowsPage, false, 'no sideways scrolling of the page');
    const desktop = await browser.newContext(DESKTOP);
    const wide = await desktop.newPage();
    await logIn(wide, relay);
    await screenshot(wide, 'e2e-pwa-1280x800-grid');
    const wideRow = await wide.evaluate(() => {
      const header = document.querySelector('.app-header')!;
      const rects = [...header.querySelectorAll<HTMLElement>('.brand, nav a, .who, [data-testid="nav-logout"]')].map((el) => el.getBoundingClientRect());
      const centres = rects.map((r) => r.top + r.height / 2);
      return { count: rects.length, spread: Math.max(...centres) - Math.min(...centres) };
    });
    assert.equal(wideRow.count, 6);
    assert.ok(wideRow.spread < 4, `desktop header on one line (spread ${wideRow.spread} px)`);
    await desktop.close();
  });

  await step(page, 'watching keeps the screen on; a background tab lets go of the stream and comes back at the live edge', async () => {
    await page.goto(`${relay.url}/cameras/${cameraId}`);
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
    await screenshot(page, 'e2e-pwa-390x844-camera');
    const requestsBefore = await page.evaluate(() => (window.__wakeLockLog ?? []).length);
    const held = await page.evaluate(() => (window.__wakeLockLog ?? []).filter((e) => e.releasedAt === null).length);
    assert.equal(held, 1, 'one screen wake lock held while the camera plays');
    // The norm: this player's latency in this run, before anything happens to it.
    const control = await latencySamples(page, cameraId, 40);
    const controlP95 = quantile(control, 0.95);
    assert.equal(await waitFor('the relay to count this viewer', 10_000, async () => (await viewersOf(relay, token, cameraId)) === 1), true);

    const before = (await playerStats(page))[0]!;
    await page.evaluate(() => window.__setHidden!(true));
    await page.waitForFunction(() => window.__picam?.players[0]?.stats().state === 'paused', undefined, { timeout: 5000 });
    await waitFor('the relay to see the viewer leave', 10_000, async () => (await viewersOf(relay, token, cameraId)) === 0);
    const pausedAt = await page.evaluate(() => window.__picam!.players[0]!.stats().framesReceived);
    // Hidden for a while: the camera moves on; a player that kept its socket would now hold a backlog.
    await page.waitForTimeout(3000);
    assert.equal(await page.evaluate(() => window.__picam!.players[0]!.stats().framesReceived), pausedAt, 'nothing received while hidden');

    const shownAt = Date.now();
    await page.evaluate(() => window.__setHidden!(false));
    await page.waitForFunction(() => window.__picam?.players[0]?.stats().state === 'live', undefined, { timeout: 10_000, polling: 50 });
    const backAfterMs = Date.now() - shownAt;
    const after = await latencySamples(page, cameraId, 20);
    const first = (await playerStats(page))[0]!;
    t.diagnostic(
      `latency ms: control p50 ${quantile(control, 0.5)} p95 ${controlP95}; after the tab came back p50 ${quantile(after, 0.5)} max ${Math.max(...after)}; live again after ${backAfterMs} ms`,
    );
    // At ~30 fps, 3 s hidden is ~90 frames: the first picture back must be from now, not from then.
    assert.ok(first.lastFrameSequence > before.lastFrameSequence + 60, `resumed at the live edge: frame ${before.lastFrameSequence} -> ${first.lastFrameSequence}`);
    assert.ok(quantile(after, 0.5) <= controlP95 + 50, `latency back within the norm: p50 ${quantile(after, 0.5)} ms vs control p95 ${controlP95} ms`);
    assert.equal(await waitFor('the relay to count the viewer back', 10_000, async () => (await viewersOf(relay, token, cameraId)) === 1), true);

    const log = await page.evaluate(() => window.__wakeLockLog ?? []);
    assert.equal(log.length, requestsBefore + 1, 'the wake lock was asked for again when the page came back');
    assert.equal(log.at(-1)!.releasedAt, null);
    await page.getByTestId('nav-cameras').click();
    await page.getByTestId('page-cameras').waitFor();
    const released = await page.evaluate(() => (window.__wakeLockLog ?? []).every((e) => e.releasedAt !== null));
    assert.equal(released, true, 'leaving the camera page let go of the screen');
    // A tile shows keyframes only until it is clicked (test/e2e-grid.test.ts); clicked, it plays in full.
    await page.locator(`[data-testid="camera-tile"][data-camera-id="${cameraId}"] [data-testid="player"]`).click();
    await expectLiveVideo(page, { cameraId, timeoutMs: 30_000 });
    assert.equal(await page.evaluate(() => window.__wakeLockLog!.length), requestsBefore + 1, 'the grid does not keep the screen on');
  });

  await step(page, 'an iPhone-like browser (ManagedMediaSource only) plays inline, muted, on the MSE path', async () => {
    const iphone = await browser.newContext(PHONE);
    await iphone.addInitScript(initScript(IPHONE_MEDIA));
    const ipage = await iphone.newPage();
    await logIn(ipage, relay);
    await ipage.goto(`${relay.url}/cameras/${cameraId}`);
    const live = await expectLiveVideo(ipage, { cameraId, timeoutMs: 30_000 });
    assert.equal(live.path, 'mse');
    const video = await ipage.evaluate(() => {
      const v = document.querySelector('video')!;
      return {
        playsinline: v.hasAttribute('playsinline') && v.playsInline,
        remote: v.disableRemotePlayback,
        muted: v.muted,
        kind: v.dataset.mediaSource,
        made: window.__mediaSourcesMade ?? [],
        sources: v.querySelectorAll('source').length,
      };
    });
    assert.equal(video.playsinline, true, 'plays inline, not fullscreen');
    assert.equal(video.remote, true, 'remote playback off (ManagedMediaSource needs it)');
    assert.equal(video.muted, true, 'no autoplay with sound');
    assert.equal(video.kind, 'managed');
    assert.ok(video.made.length >= 1, 'a ManagedMediaSource was built');
    assert.ok(video.sources <= 1, 'no leftover <source> elements');
    await screenshot(ipage, 'e2e-pwa-iphone-mse');
    await iphone.close();
  });

  assert.deepEqual(errors, [], 'no errors on the page');

  await step(page, 'with the relay down, the installed app still opens its stored shell', async () => {
    await relay.stop();
    const response = await page.goto(`${relay.url}/login`);
    assert.ok(response?.fromServiceWorker(), 'the page came from the worker');
    await page.getByTestId('login-form').waitFor({ timeout: 10_000 });
  });
});
