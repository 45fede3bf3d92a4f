import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './children.ts';

/** Newest mtime under `path` (a file or a directory, recursively), test files left out; 0 if missing. */
function newestMtime(path: string): number {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).filter((n) => !n.endsWith('.test.ts')).map((n) => newestMtime(join(path, n))));
}

/**
 * Benchmarks measure the agent and the relay as deployed, from their bundles. A bundle older than
 * its sources (paths relative to the repository) is rebuilt with `buildScript` first: measuring a
 * stale bundle, or the relay launcher's tsx fallback, would report the wrong code.
 */
export function ensureBundle(bundle: string, sources: readonly string[], buildScript: string): void {
  const built = newestMtime(join(REPO_ROOT, bundle));
  if (built >= Math.max(...sources.map((p) => newestMtime(join(REPO_ROOT, p))))) return;
  const result = spawnSync(process.execPath, [join(REPO_ROOT, buildScript)], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${buildScript} failed`);
}
