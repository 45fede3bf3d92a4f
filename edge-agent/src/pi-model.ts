import { readFileSync } from 'node:fs';

/**
 * The board model decides the encoder: a Pi 5 has no hardware H.264 encoder, so rpicam-vid must
 * use libav (software x264) and, crucially, `--low-latency`, or it emits B-frames and uses frame
 * threads: 600-850 ms of added latency reported by Pi 5 users).
 */
const DEVICE_TREE_MODEL = '/proc/device-tree/model';

/** "Raspberry Pi 5 Model B Rev 1.0", or null when not on a Pi (or not Linux). */
export function readBoardModel(path = DEVICE_TREE_MODEL): string | null {
  try {
    // The device tree stores a NUL-terminated string.
    const model = readFileSync(path, 'latin1').replace(/\0+$/, '').trim();
    return model === '' ? null : model;
  } catch {
    return null;
  }
}

/** Pi 5 family: the Pi 5 itself, the Pi 500 keyboard and the Compute Module 5 share the BCM2712. */
export function isPi5Family(model: string | null): boolean {
  if (model === null) return false;
  return /\bRaspberry Pi (?:5|500)\b/i.test(model) || /\bCompute Module 5\b/i.test(model);
}
