import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** Newer Raspberry Pi OS images ship rpicam-vid; Bullseye-era images only libcamera-vid. */
const CAMERA_COMMANDS = ['rpicam-vid', 'libcamera-vid'] as const;

/** An executable file for this user (PATH look-ups of the camera and audio commands). */
export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The camera binary to run: `override` (a path or a bare name looked up on PATH) when given,
 * else the first of rpicam-vid, libcamera-vid found on PATH. Null when none is found, so callers
 * can say so plainly instead of failing with ENOENT later.
 */
export function findCameraCommand(override: string | undefined, pathVar = process.env.PATH ?? ''): string | null {
  const dirs = pathVar.split(delimiter).filter((d) => d !== '');
  const lookup = (name: string): string | null => {
    if (name.includes('/')) {
      const full = isAbsolute(name) ? name : resolve(name);
      return isExecutable(full) ? full : null;
    }
    for (const dir of dirs) {
      const full = join(dir, name);
      if (isExecutable(full)) return full;
    }
    return null;
  };
  if (override !== undefined) return lookup(override);
  for (const name of CAMERA_COMMANDS) {
    const found = lookup(name);
    if (found !== null) return found;
  }
  return null;
}
