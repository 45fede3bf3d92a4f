/**
 * Helpers for the h264/adts unit tests only (Node APIs allowed here; nothing in the package exports
 * this file, so the browser never sees it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLIPS_DIR = fileURLToPath(new URL('../../../test/fixtures/clips/', import.meta.url));

export function clipPath(name: string): string {
  return CLIPS_DIR + name;
}

/** The clip as a plain Uint8Array (not a Buffer: the code under test must work on Uint8Array). */
export function readClip(name: string): Uint8Array {
  const buf = readFileSync(clipPath(name));
  return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** mulberry32: a tiny seeded PRNG so random tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts data into chunks of 1..maxSize bytes (views, no copies). */
export function randomChunks(data: Uint8Array, rand: () => number, maxSize: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < data.length; ) {
    const n = 1 + Math.floor(rand() * maxSize);
    chunks.push(data.subarray(o, o + n));
    o += n;
  }
  return chunks;
}

export function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

export const hasFfprobe = existsSync('/usr/bin/ffprobe');

/** Packet sizes and key flags from ffprobe's own H.264 / ADTS parser, in stream order. */
export function ffprobePackets(path: string): { size: number; key: boolean }[] {
  const csv = execFileSync('/usr/bin/ffprobe', ['-v', 'error', '-show_packets', '-show_entries', 'packet=size,flags', '-of', 'csv=p=0', path], {
    encoding: 'utf8',
  });
  return csv
    .trim()
    .split('\n')
    .map((line) => {
      const [size, flags] = line.split(',');
      return { size: Number(size), key: (flags ?? '').startsWith('K') };
    });
}

/** Writes SPS syntax elements bit by bit, then adds emulation prevention like an encoder does. */
export class SpsWriter {
  private bits: number[] = [];
  u(n: number, value: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }
  ue(value: number): this {
    const code = value + 1;
    const len = Math.floor(Math.log2(code));
    return this.u(len, 0).u(len + 1, code);
  }
  se(value: number): this {
    return this.ue(value > 0 ? 2 * value - 1 : -2 * value);
  }
  nal(): Uint8Array {
    const bits = [...this.bits, 1]; // rbsp_stop_one_bit
    while (bits.length % 8 !== 0) bits.push(0);
    const rbsp: number[] = [0x67];
    for (let i = 0; i < bits.length; i += 8) rbsp.push(parseInt(bits.slice(i, i + 8).join(''), 2));
    return addEmulationPrevention(rbsp);
  }
}

/**
 * The encoder's side of 7.4.1, written here apart from the code under test: after 00 00, a byte
 * 00..03 gets an 03 in front of it.
 */
export function addEmulationPrevention(rbsp: ArrayLike<number>): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of Array.from(rbsp)) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}
