import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Hono } from 'hono';
import { CONTENT_SECURITY_POLICY, PAGE_ROUTES, contentSecurityPolicy, createWebRoutes } from './web.ts';

const version = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

const SW_SOURCE = 'self.addEventListener("fetch", () => {})';

/** The installable app's files as a build writes them (web/build.mjs PWA_FILES). */
function writePwaFiles(dir: string): void {
  mkdirSync(join(dir, 'icons'), { recursive: true });
  writeFileSync(join(dir, 'sw.js'), SW_SOURCE);
  writeFileSync(join(dir, 'manifest.webmanifest'), '{"name":"picam"}');
  for (const icon of ['icon-192', 'icon-512', 'icon-maskable-512', 'apple-touch-icon']) writeFileSync(join(dir, 'icons', `${icon}.png`), 'png');
}

describe('web routes (fixture dist)', () => {
  let dir: string;
  let app: Hono;
  const js = 'console.log("picam")';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'picam-web-'));
    writeFileSync(join(dir, 'index.html'), `<!doctype html><script type="module" src="/app.js?v=${version(js)}"></script>`);
    writeFileSync(join(dir, 'app.js'), js);
    writeFileSync(join(dir, 'app.js.map'), '{}');
    writeFileSync(join(dir, 'app.css'), 'body{}');
    writeFileSync(join(dir, 'app.css.map'), '{}');
    writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
    writePwaFiles(dir);
    app = await createWebRoutes({ distDir: dir, build: false });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('every page route answers index.html with the security headers', async () => {
    const paths = PAGE_ROUTES.map((r) => r.replace(':id', 'cam_1-A').replace(':shareId', 'shr1'));
    for (const path of paths) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8', path);
      assert.equal(res.headers.get('cache-control'), 'no-cache', path);
      assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
      assert.match(await res.text(), /app\.js\?v=/, path);
    }
  });

  test('an inline script in index.html (the boot script) is allowed by its hash and nothing else inline is', async () => {
    const inlineDir = mkdtempSync(join(tmpdir(), 'picam-web-inline-'));
    try {
      const boot = 'console.log("boot <b>")';
      for (const name of ['app.js', 'app.js.map', 'app.css', 'app.css.map', 'favicon.svg']) writeFileSync(join(inlineDir, name), '{}');
      writePwaFiles(inlineDir);
      writeFileSync(join(inlineDir, 'index.html'), `<!doctype html><script>${boot}</script><script type="module" src="/app.js"></script>`);
      const inlineApp = await createWebRoutes({ distDir: inlineDir, build: false });
      const csp = (await inlineApp.request('/cameras/cam1')).headers.get('content-security-policy') ?? '';
      const hash = createHash('sha256').update(boot).digest('base64');
      assert.match(csp, new RegExp(`script-src 'self' 'sha256-${hash.replace(/[+/]/g, '\\$&')}'(;|$)`));
      assert.doesNotMatch(csp, /unsafe/);
      assert.equal(csp, contentSecurityPolicy([boot]));
      assert.notEqual(contentSecurityPolicy(['console.log("other")']), csp, 'another script has another hash');
    } finally {
      rmSync(inlineDir, { recursive: true, force: true });
    }
  });

  test('the CSP is the strict one: no inline script or style, nothing from elsewhere', () => {
    assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
    assert.match(CONTENT_SECURITY_POLICY, /style-src 'self'(;|$)/);
    assert.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe|https?:/);
  });

  test('assets have their content types; a matching ?v= is immutable, anything else revalidates', async () => {
    const expected: Record<string, string> = {
      '/app.js': 'text/javascript; charset=utf-8',
      '/app.css': 'text/css; charset=utf-8',
      '/app.js.map': 'application/json; charset=utf-8',
      '/favicon.svg': 'image/svg+xml',
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), type, path);
      assert.equal(res.headers.get('cache-control'), 'no-cache', path);
      assert.ok(res.headers.get('etag'), path);
    }
    const pinned = await app.request(`/app.js?v=${version(js)}`);
    assert.equal(pinned.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await pinned.text(), js);
    const stale = await app.request('/app.js?v=0123456789ab');
    assert.equal(stale.headers.get('cache-control'), 'no-cache');
  });

  test('the installable app: /sw.js at the root, always revalidated; manifest and icons with their types', async () => {
    const expected: Record<string, string> = {
      '/sw.js': 'text/javascript; charset=utf-8',
      '/manifest.webmanifest': 'application/manifest+json',
      '/icons/icon-192.png': 'image/png',
      '/icons/icon-512.png': 'image/png',
      '/icons/icon-maskable-512.png': 'image/png',
      '/icons/apple-touch-icon.png': 'image/png',
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await app.request(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), type, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }
    // Even with the "right" version query, the worker script is never pinned in an HTTP cache.
    const sw = await app.request('/sw.js');
    assert.equal(sw.headers.get('cache-control'), 'no-cache');
    const pinned = await app.request(`/sw.js?v=${version(SW_SOURCE)}`);
    assert.equal(pinned.headers.get('cache-control'), 'no-cache');
    assert.match(CONTENT_SECURITY_POLICY, /worker-src 'self'/);
    assert.match(CONTENT_SECURITY_POLICY, /manifest-src 'self'/);
  });

  test('If-None-Match gives 304 without a body', async () => {
    const first = await app.request('/app.js');
    const etag = first.headers.get('etag')!;
    const again = await app.request('/app.js', { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    const page = await app.request('/login');
    const pageAgain = await app.request('/login', { headers: { 'If-None-Match': `W/${page.headers.get('etag')}` } });
    assert.equal(pageAgain.status, 304);
  });

  test('HEAD works for pages and assets', async () => {
    const res = await app.request('/app.css', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/css; charset=utf-8');
  });

  test('not a page: unknown paths and odd ids are 404', async () => {
    for (const path of ['/nope', '/cameras', '/cameras/a/b', '/cameras/..%2F..%2Fetc', '/index.html.bak', '/s/']) {
      const res = await app.request(path);
      assert.equal(res.status, 404, path);
    }
  });

  test('a missing build is a clear start-up error', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'picam-web-empty-'));
    try {
      await assert.rejects(createWebRoutes({ distDir: empty, build: false }), /web app is not built .*npm run build -w @picam\/web/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('web routes (the real build)', () => {
  test('builds web/dist when needed and serves the app bundle', async () => {
    const app = await createWebRoutes();
    const html = await (await app.request('/')).text();
    const src = /src="(\/app\.js\?v=[0-9a-f]{12})"/.exec(html)?.[1];
    assert.ok(src, `index.html names its script with a version: ${html}`);
    const res = await app.request(src);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const body = await res.text();
    assert.ok(body.length > 10_000, 'the bundle is there');
    assert.doesNotMatch(body, /https?:\/\/cdn\./, 'nothing is fetched from a CDN');
    const css = /href="(\/app\.css\?v=[0-9a-f]{12})"/.exec(html)?.[1];
    assert.ok(css);
    assert.equal((await app.request(css)).headers.get('cache-control'), 'public, max-age=31536000, immutable');
  });
});
