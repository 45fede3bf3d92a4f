import type { CameraSettings } from '@picam/protocol';

/** Encoder options that only make sense on the device itself, so the relay never sets them. */
export interface CameraExtras {
  /** H.264 level, e.g. "4.1" (rpicam-vid --level) */
  level?: string | undefined;
  /** rpicam-vid --denoise: auto, off, cdn_off, cdn_fast, cdn_hq */
  denoise?: string | undefined;
}

/**
 * Flags every run gets, whatever the settings:
 * - `-t 0`: run until stopped;
 * - `--inline`: SPS/PPS before every IDR, so a viewer joining mid-stream can start decoding;
 * - `--flush`: write each frame as soon as it is encoded (otherwise stdio holds 4 KiB blocks);
 * - `--nopreview -o -`: no window, H.264 Annex-B on stdout.
 */
const FIXED_CAMERA_ARGS: readonly string[] = ['-t', '0', '--inline', '--flush', '--nopreview', '-o', '-'];

/** A Pi 5 encodes in software through libav; `--low-latency` stops x264 using B-frames and frame threads. */
const PI5_CAMERA_ARGS: readonly string[] = ['--codec', 'libav', '--libav-format', 'h264', '--low-latency'];

/** The rpicam-vid (or libcamera-vid) argv for the given settings. Pure: unit-tested. */
export function buildCameraArgs(settings: CameraSettings, extras: CameraExtras = {}, pi5 = false): string[] {
  const args = [
    ...FIXED_CAMERA_ARGS,
    '--width', String(settings.width),
    '--height', String(settings.height),
    '--framerate', String(settings.framerate),
    '--bitrate', String(settings.bitrate),
    '--intra', String(settings.intra),
    '--profile', settings.profile,
  ];
  if (settings.rotation !== 0) args.push('--rotation', String(settings.rotation));
  if (settings.hflip) args.push('--hflip');
  if (settings.vflip) args.push('--vflip');
  if (extras.level !== undefined) args.push('--level', extras.level);
  if (extras.denoise !== undefined) args.push('--denoise', extras.denoise);
  if (pi5) args.push(...PI5_CAMERA_ARGS);
  return args;
}
