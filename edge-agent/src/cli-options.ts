import { InvalidArgumentError } from 'commander';

/** Parsers for commander options; they throw InvalidArgumentError so commander prints a usage error. */

export function integer(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

export function decimal(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

/** rpicam-vid accepts plain bits per second and, in newer versions, units: "2000000", "2mbps", "500kbps". */
export function bitrate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|m)?(?:bps|b)?$/i.exec(value.trim());
  if (m === null) throw new InvalidArgumentError('expected bits per second, e.g. 2000000 or 2mbps');
  const scale = m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1_000 : 1_000_000;
  return Math.round(Number(m[1]) * scale);
}

export function rotation(value: string): 0 | 180 {
  if (value === '0') return 0;
  if (value === '180') return 180;
  throw new InvalidArgumentError('the camera can rotate by 0 or 180 only (use --hflip/--vflip to mirror)');
}
