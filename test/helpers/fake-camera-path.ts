// Where the fake rpicam-vid / libcamera-vid / fake-audio live, and an environment that finds them
// first on PATH, so code under test spawns "rpicam-vid" exactly as it would on a Pi.
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of test/fake-camera (no trailing slash). */
export const FAKE_CAMERA_DIR: string = fileURLToPath(new URL('../fake-camera', import.meta.url));

/**
 * process.env plus `extra` (e.g. FAKE_CAMERA_* knobs), with FAKE_CAMERA_DIR in front of PATH
 * (in front of `extra.PATH` when given).
 */
export function envWithFakeCamera(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = extra.PATH ?? process.env.PATH;
  return { ...process.env, ...extra, PATH: base ? `${FAKE_CAMERA_DIR}${delimiter}${base}` : FAKE_CAMERA_DIR };
}
