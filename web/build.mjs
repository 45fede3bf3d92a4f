#!/usr/bin/env node
// Bundles the browser app into web/dist/: app.js (with jmuxer and the protocol code), app.css,
// index.html (with the boot script, src/boot.ts, inline), favicon.svg, and the installable app's
// manifest.webmanifest, icons/ and service worker sw.js. Nothing is fetched at run
// time, so a strict CSP holds (the relay allows the inline boot script by its hash).
//
// index.html refers to the assets as `/app.js?v=<hash>`: the relay serves a matching `v` as immutable
// and anything else as no-cache, so a rebuilt app is never mixed with a cached old one.
//
// The build goes to a temporary folder first and each file is renamed into dist/ (atomic on one
// file system), so a relay reading dist/ while tests rebuild it never sees a half-written file.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const WEB_DIR = dirname(fileURLToPath(import.meta.url));
export const DIST_DIR = join(WEB_DIR, 'dist');

/**
 * The protocol package's modules have no side effects at import; saying so lets esbuild leave out
 * messages.ts and with it zod (~450 KB), which the browser does not use (player/messages.ts).
 */
const protocolSideEffectFree = {
  name: 'protocol-side-effect-free',
  setup(build) {
    build.onResolve({ filter: /^@picam\/protocol$/ }, () => ({ path: join(WEB_DIR, '../protocol/src/index.ts'), sideEffects: false }));
    build.onResolve({ filter: /\.ts$/ }, (args) =>
      args.importer.includes('/protocol/src/') ? { path: join(dirname(args.importer), args.path), sideEffects: false } : undefined,
    );
  },
};

/** Node's `stream` for jmuxer's optional Node mode (createStream), which the browser never uses. */
const streamShim = {
  name: 'stream-shim',
  setup(build) {
    build.onResolve({ filter: /^stream$/ }, () => ({ path: 'stream', namespace: 'stream-shim' }));
    build.onLoad({ filter: /.*/, namespace: 'stream-shim' }, () => ({
      contents: 'export class Duplex { constructor() { throw new Error("jmuxer streams are not available in the browser"); } }',
      loader: 'js',
    }));
  },
};

/** Safari 15 has no VideoDecoder but plays jmuxer; older browsers are not a target. */
const BROWSER_TARGETS = ['chrome100', 'firefox100', 'safari15', 'edge100'];

/** Where src/index.html takes the boot script; the build puts its code inline there. */
const BOOT_TAG = '<script src="/boot.js"></script>';

/** The installable app's files (web/src/manifest.webmanifest, web/src/icons/, pwa/sw.ts), as served. */
export const PWA_ICONS = ['icons/icon-192.png', 'icons/icon-512.png', 'icons/icon-maskable-512.png', 'icons/apple-touch-icon.png'];
export const PWA_FILES = ['sw.js', 'manifest.webmanifest', ...PWA_ICONS];

export function assetHash(bytes) {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

/** Builds the app; resolves with the file names written. */
export async function buildWeb({ outDir = DIST_DIR, minify = true, logLevel = 'warning' } = {}) {
  const staging = `${outDir}.tmp-${process.pid}-${Date.now().toString(36)}`;
  await mkdir(staging, { recursive: true });
  try {
    await esbuild.build({
      entryPoints: { app: join(WEB_DIR, 'src/main.ts'), 'app-style': join(WEB_DIR, 'src/styles/app.css') },
      outdir: staging,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: BROWSER_TARGETS,
      minify,
      sourcemap: 'linked',
      legalComments: 'linked',
      plugins: [protocolSideEffectFree, streamShim],
      // jmuxer's package says "type": "module" but its dist file is UMD, which esbuild then reads as
      // ESM without exports: bundle its ES sources instead (same code, and tree-shakable).
      alias: { jmuxer: 'jmuxer/src/jmuxer.js' },
      define: { 'process.env.NODE_ENV': '"production"' },
      logLevel,
    });
    // The boot script is inline in index.html: it runs while the page is parsed, before any
    // subresource has arrived (in headless Chromium those took 50-90 ms after the HTML). A file,
    // even a classic parser-blocking one, arrived with app.js and ran no sooner.
    const bootBuild = await esbuild.build({
      entryPoints: [join(WEB_DIR, 'src/boot.ts')],
      write: false,
      plugins: [protocolSideEffectFree],
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: BROWSER_TARGETS,
      minify,
      logLevel,
    });
    const boot = bootBuild.outputFiles[0].text.trim();
    if (boot.includes('</script')) throw new Error('boot script contains "</script": it cannot be inlined');
    await rename(join(staging, 'app-style.css'), join(staging, 'app.css'));
    await rename(join(staging, 'app-style.css.map'), join(staging, 'app.css.map'));
    // The CSS map still names its old file; harmless, but keep it honest.
    const cssMap = JSON.parse(await readFile(join(staging, 'app.css.map'), 'utf8'));
    await writeFile(join(staging, 'app.css.map'), JSON.stringify({ ...cssMap, file: 'app.css' }));
    const css = (await readFile(join(staging, 'app.css'), 'utf8')).replace(/app-style\.css\.map/g, 'app.css.map');
    await writeFile(join(staging, 'app.css'), css);
    // esbuild writes an empty JS stub for the CSS entry.
    await rm(join(staging, 'app-style.js'), { force: true });
    await rm(join(staging, 'app-style.js.map'), { force: true });
    await copyFile(join(WEB_DIR, 'src/favicon.svg'), join(staging, 'favicon.svg'));

    const js = await readFile(join(staging, 'app.js'));
    const template = await readFile(join(WEB_DIR, 'src/index.html'), 'utf8');
    if (!template.includes(BOOT_TAG)) throw new Error(`src/index.html has no ${BOOT_TAG} to replace with the boot script`);
    const html = template
      .replace('/app.js"', `/app.js?v=${assetHash(js)}"`)
      .replace(BOOT_TAG, () => `<script>${boot}</script>`)
      .replace('/app.css"', `/app.css?v=${assetHash(Buffer.from(css))}"`);
    await writeFile(join(staging, 'index.html'), html);
    await buildInstallable(staging, { html, js, css, minify, logLevel });

    await mkdir(join(outDir, 'icons'), { recursive: true });
    const files = ['app.js', 'app.js.map', 'app.js.LEGAL.txt', 'app.css', 'app.css.map', 'favicon.svg', 'index.html', ...PWA_FILES];
    const written = [];
    for (const name of files) {
      try {
        await rename(join(staging, name), join(outDir, name));
        written.push(name);
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
    }
    return written;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The manifest and icons (copied as they are) and the service worker, which gets this build's app
 * shell as __PICAM_SHELL__: the paths index.html loads (with their `v`) and a version hashed from
 * all of them, so any change to the shell is a new sw.js and the browser updates the worker.
 */
async function buildInstallable(staging, { html, js, css, minify, logLevel }) {
  await mkdir(join(staging, 'icons'), { recursive: true });
  await copyFile(join(WEB_DIR, 'src/manifest.webmanifest'), join(staging, 'manifest.webmanifest'));
  for (const icon of PWA_ICONS) await copyFile(join(WEB_DIR, 'src', icon), join(staging, icon));
  const shell = ['/', `/app.js?v=${assetHash(js)}`, `/app.css?v=${assetHash(Buffer.from(css))}`, '/favicon.svg', '/manifest.webmanifest', ...PWA_ICONS.map((f) => `/${f}`)];
  const version = createHash('sha256').update(html);
  for (const name of ['favicon.svg', 'manifest.webmanifest', ...PWA_ICONS]) version.update(await readFile(join(staging, name)));
  await esbuild.build({
    entryPoints: [join(WEB_DIR, 'src/pwa/sw.ts')],
    outfile: join(staging, 'sw.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: BROWSER_TARGETS,
    minify,
    define: { __PICAM_SHELL__: JSON.stringify({ version: version.digest('hex').slice(0, 12), files: shell }) },
    logLevel,
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const files = await buildWeb({ minify: !process.argv.includes('--dev') });
  process.stdout.write(`web: built ${files.join(', ')} into ${DIST_DIR} in ${Date.now() - started} ms\n`);
}
