import type { CameraSettings } from './messages.ts';

/** Byte equality, for "did the SPS/PPS change?"; a missing side is never equal. */
export function sameBytes(a: Uint8Array | undefined | null, b: Uint8Array | undefined | null): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether two complete camera settings ask the camera for the same thing. */
export function sameSettings(a: CameraSettings, b: CameraSettings): boolean {
  return (Object.keys(a) as (keyof CameraSettings)[]).every((key) => a[key] === b[key]);
}
