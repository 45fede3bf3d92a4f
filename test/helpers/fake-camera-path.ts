// Where the fake rpicam-vid / libcamera-vid / fake-audio live, and an environment that finds them
// first on PATH, so code under test spawns "rpicam-vid" exactly as it would on a Pi.
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of test/fake-camera (no trailing slash). */
export const FAKE_CAMERA_DIR: string = fileURLToPath(new URL('../fake-camera', import.meta.url));

/** process.env with FAKE_CAMERA_DIR in front of PATH, plus `extra` (e.g. FAKE_CAMERA_* knobs). */
export function envWithFakeCamera(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const path = process.env.PATH ? `${FAKE_CAMERA_DIR}${delimiter}${process.env.PATH}` : FAKE_CAMERA_DIR;
  return { ...process.env, ...extra, PATH: path };
}
