import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono, type Context } from 'hono';
import { WEB_DIST_DIR, ensureWebBuilt } from '@picam/web';

/**
 * The browser app: the built assets from web/dist (read once at start-up, served from memory) and
 * index.html for every page route, all with a strict Content-Security-Policy: nothing from
 * elsewhere, no inline style, and no inline script but the boot script the build puts in
 * index.html (web/src/boot.ts), allowed by its SHA-256 alone. Mounted last by app.ts, after /api.
 *
 * Caching: index.html is `no-cache` (always revalidated, so a new build is picked up at once); it
 * names its assets `/app.js?v=<hash>`, and a request whose `v` matches the file served is immutable
 * for a year. Anything else is `no-cache` with an ETag; /sw.js and the manifest always are.
 */

const POLICY = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  // 'self' covers the page's own ws:/wss: origin in current browsers (CSP3); PUBLIC_URL's is added
  // spelled out (socketOriginOf) for browsers that do not. Never a bare scheme: that is any host.
  "connect-src 'self'",
  "style-src 'self'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "manifest-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
];

/**
 * The policy for a page carrying these inline scripts: each one allowed by its hash, nothing else
 * inline; with `publicUrl`, the relay's own WebSocket origin is named in connect-src as well.
 */
export function contentSecurityPolicy(inlineScripts: readonly string[] = [], publicUrl?: string): string {
  const hashes = inlineScripts.map((code) => `'sha256-${createHash('sha256').update(code).digest('base64')}'`);
  const socketOrigin = publicUrl ? socketOriginOf(publicUrl) : undefined;
  return POLICY.map((directive) => {
    if (directive === "script-src 'self'") return [directive, ...hashes].join(' ');
    if (directive === "connect-src 'self'" && socketOrigin) return `${directive} ${socketOrigin}`;
    return directive;
  }).join('; ');
}

/** https://relay.example:8443/x -> wss://relay.example:8443 (ws: for an http PUBLIC_URL). */
function socketOriginOf(publicUrl: string): string {
  const url = new URL(publicUrl);
  return `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`;
}

/** The policy without any inline script. */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy();

/** The code of each inline `<script>` (one without a src) in an HTML document. */
function inlineScriptsOf(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
}

/** Page routes the client-side router knows (web/src/main.ts); each answers with index.html. */
export const PAGE_ROUTES = [
  '/',
  '/login',
  '/cameras/:id',
  '/admin/cameras',
  '/admin/cameras/:id/shares',
  '/admin/users',
  '/s/:shareId',
] as const;

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'app.css.map': 'application/json; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
  // The installable app (web/src/pwa/sw.ts): its worker at the root (so its scope is every page),
  // manifest and icons.
  'sw.js': 'text/javascript; charset=utf-8',
  'manifest.webmanifest': 'application/manifest+json',
  'icons/icon-192.png': 'image/png',
  'icons/icon-512.png': 'image/png',
  'icons/icon-maskable-512.png': 'image/png',
  'icons/apple-touch-icon.png': 'image/png',
};
/**
 * Never cached without asking, whatever the query: the worker script decides which build a browser
 * runs (browsers also cap its HTTP caching at 24 h; `no-cache` makes every update check a real one).
 */
const ALWAYS_REVALIDATE = new Set(['sw.js', 'manifest.webmanifest']);
/** Built only when esbuild finds third-party license comments to keep. */
const OPTIONAL_ASSETS: Record<string, string> = { 'app.js.LEGAL.txt': 'text/plain; charset=utf-8' };

interface Asset {
  body: Uint8Array;
  type: string;
  etag: string;
  /** the `v` query index.html uses for this file */
  version: string;
}

export interface WebRoutesOptions {
  /** where the built app is (default web/dist); tests point this at a fixture */
  distDir?: string;
  /** build web/dist first when missing or stale (default true) */
  build?: boolean;
  /** PUBLIC_URL: its WebSocket origin is named in connect-src */
  publicUrl?: string;
}

export async function createWebRoutes(options: WebRoutesOptions = {}): Promise<Hono> {
  const distDir = options.distDir ?? WEB_DIST_DIR;
  if (options.build ?? distDir === WEB_DIST_DIR) await ensureWebBuilt();

  const load = async (name: string, type: string): Promise<Asset> => {
    const body = new Uint8Array(await readFile(join(distDir, name)));
    const hash = createHash('sha256').update(body).digest('hex');
    // Same 12 characters as web/build.mjs assetHash(), which writes them into index.html.
    return { body, type, etag: `"${hash.slice(0, 27)}"`, version: hash.slice(0, 12) };
  };
  let index: Asset;
  const assets = new Map<string, Asset>();
  try {
    index = await load('index.html', 'text/html; charset=utf-8');
    for (const [name, type] of Object.entries(ASSETS)) assets.set(name, await load(name, type));
  } catch (err) {
    throw new Error(`the web app is not built in ${distDir} (run \`npm run build -w @picam/web\`): ${(err as Error).message}`);
  }
  for (const [name, type] of Object.entries(OPTIONAL_ASSETS)) {
    try {
      assets.set(name, await load(name, type));
    } catch {
      // not produced by this build
    }
  }

  const policy = contentSecurityPolicy(inlineScriptsOf(new TextDecoder().decode(index.body)), options.publicUrl);
  const app = new Hono();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', policy);
    c.header('X-Content-Type-Options', 'nosniff');
    // Share tokens ride in the URL fragment, which browsers never send; no referrer at all anyway.
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
  });

  const send = (c: Context, asset: Asset, cacheControl: string) => {
    const headers = { 'Content-Type': asset.type, 'Cache-Control': cacheControl, ETag: asset.etag };
    const inm = c.req.header('If-None-Match');
    if (inm && inm.split(',').some((tag) => tag.trim().replace(/^W\//, '') === asset.etag)) {
      return c.body(null, 304, headers);
    }
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, { ...headers, 'Content-Length': String(asset.body.byteLength) });
  };

  for (const [name, asset] of assets) {
    app.get(`/${name}`, (c) => {
      const immutable = !ALWAYS_REVALIDATE.has(name) && c.req.query('v') === asset.version;
      return send(c, asset, immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    });
  }

  for (const route of PAGE_ROUTES) {
    app.get(route, (c) => {
      // Ids are the API's (url-safe); anything else is not one of our pages.
      const params = Object.values(c.req.param() as Record<string, string>);
      if (params.some((p) => !/^[A-Za-z0-9_-]{1,64}$/.test(p))) return c.notFound();
      return send(c, index, 'no-cache');
    });
  }

  return app;
}
