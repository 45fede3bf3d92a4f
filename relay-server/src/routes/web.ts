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
  "connect-src 'self' ws: wss:",
  "style-src 'self'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "manifest-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
];

/** The policy for a page carrying these inline scripts: each one allowed by its hash, nothing else inline. */
export function contentSecurityPolicy(inlineScripts: readonly string[] = []): string {
  const hashes = inlineScripts.map((code) => `'sha256-${createHash('sha256').update(code).digest('base64')}'`);
  return POLICY.map((directive) => (directive === "script-src 'self'" ? [directive, ...hashes].join(' ') : directive)).join('; ');
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

  const policy = contentSecurityPolicy(inlineScriptsOf(new TextDecoder().decode(index.body)));
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
