import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AccessUnitSplitter } from '@picam/protocol';
import { RESULTS_DIR } from './table.ts';

/**
 * The clips the benchmarks stream. Fan-out uses the committed 1080p30 ~4.3 Mbit/s fixture; the
 * agent bench a 1080p30 8 Mbit/s clip generated here with ffmpeg (kept in bench/results/, not
 * committed).
 */

export const FANOUT_CLIP = fileURLToPath(new URL('../../test/fixtures/clips/1920x1080-high.h264', import.meta.url));
export const FAKE_CAMERA_DIR = fileURLToPath(new URL('../../test/fake-camera/', import.meta.url));

export interface Unit {
  data: Uint8Array;
  keyframe: boolean;
}

export function loadUnits(path: string): Unit[] {
  const splitter = new AccessUnitSplitter();
  const bytes = new Uint8Array(readFileSync(path));
  return [...splitter.push(bytes), ...splitter.flush()].map((u) => ({ data: u.data, keyframe: u.keyframe }));
}

/** Bits per second of a clip played at `fps`. */
export function clipBitrate(units: readonly Unit[], fps = 30): number {
  const bytes = units.reduce((sum, u) => sum + u.data.byteLength, 0);
  return (bytes * 8 * fps) / units.length;
}

/** 1920x1080 30 fps, 8 Mbit/s CBR-ish, GOP 30, no B-frames, SPS/PPS before every IDR; 10 s. */
export function ensureAgentClip(log: (line: string) => void = () => {}): string {
  const path = `${RESULTS_DIR}1920x1080-8M.h264`;
  if (existsSync(path)) return path;
  mkdirSync(RESULTS_DIR, { recursive: true });
  log('generating bench/results/1920x1080-8M.h264 with ffmpeg (once)...');
  const tmp = `${path}.tmp.h264`;
  execFileSync(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30',
      '-t', '10',
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
      '-b:v', '8M', '-maxrate', '8M', '-bufsize', '8M', '-g', '30', '-bf', '0',
      '-x264-params', 'repeat-headers=1',
      '-f', 'h264', tmp,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  renameSync(tmp, path);
  return path;
}
