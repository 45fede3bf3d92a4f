import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The Node side of the web package: where the built app lives, and a build-if-stale step so
 * `npm start` and the tests work on a fresh clone (dist/ is not committed).
 */

const WEB_DIR = findWebDir(fileURLToPath(new URL('.', import.meta.url)));

/** This module's folder, or, when it is bundled into the relay (relay-server/dist), web/ beside it. */
function findWebDir(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'src', 'player'))) return dir;
    if (existsSync(join(dir, 'web', 'src', 'player'))) return join(dir, 'web');
    if (dirname(dir) === dir) throw new Error(`no web/ package above ${start}`);
  }
}
export const WEB_DIST_DIR = join(WEB_DIR, 'dist');
/** Every file the relay serves; a missing one means "build". */
export const WEB_DIST_FILES = [
  'index.html',
  'app.js',
  'app.css',
  'favicon.svg',
  'sw.js',
  'manifest.webmanifest',
  'icons/icon-192.png',
  'icons/icon-512.png',
  'icons/icon-maskable-512.png',
  'icons/apple-touch-icon.png',
] as const;

/** What the bundle is made of: the app's sources, the build script, and the protocol code it includes. */
const SOURCE_ROOTS = [join(WEB_DIR, 'src'), join(WEB_DIR, 'build.mjs'), join(WEB_DIR, '../protocol/src')];

let building: Promise<void> | undefined;

/** Builds web/dist when it is missing or older than any source. Safe to call often (memoized per run). */
export function ensureWebBuilt(): Promise<void> {
  if (!building) {
    building = buildIfStale().catch((err: unknown) => {
      building = undefined;
      throw err;
    });
  }
  return building;
}

/** true when dist/ lacks a file or a source is newer than the oldest built file. */
export function webBuildIsStale(): boolean {
  let oldestBuilt = Number.POSITIVE_INFINITY;
  for (const name of WEB_DIST_FILES) {
    try {
      oldestBuilt = Math.min(oldestBuilt, statSync(join(WEB_DIST_DIR, name)).mtimeMs);
    } catch {
      return true;
    }
  }
  return SOURCE_ROOTS.some((root) => newestMtime(root) > oldestBuilt);
}

async function buildIfStale(): Promise<void> {
  if (!webBuildIsStale()) return;
  const buildScript = pathToFileURL(join(WEB_DIR, 'build.mjs')).href;
  const { buildWeb } = (await import(buildScript)) as { buildWeb: (options?: { minify?: boolean }) => Promise<string[]> };
  await buildWeb();
}

function newestMtime(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, newestMtime(join(path, name)));
  }
  return newest;
}
