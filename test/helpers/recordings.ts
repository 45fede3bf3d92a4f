import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { splitNalUnits } from '@picam/protocol';
import { promisify } from 'node:util';
import type { RelayProcess } from './relay-process.ts';

/** Reading a relay's recordings the way a user's tools would: its API, then ffprobe and ffmpeg. */

const run = promisify(execFile);

export interface Span {
  start: number;
  end: number;
}

export async function spans(relay: RelayProcess, cameraId: string, token = relay.adminToken, from = Date.now() - 3600_000, to = Date.now() + 60_000): Promise<Span[]> {
  const res = await relay.api('GET', `/api/cameras/${cameraId}/recordings?from=${from}&to=${to}`, undefined, token);
  if (res.status !== 200) throw new Error(`recordings: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.spans as Span[];
}

/** Polls the spans (a condition, not a sleep) until `ok` holds or the time is up. */
export async function waitForSpans(relay: RelayProcess, cameraId: string, ok: (s: Span[]) => boolean, timeoutMs: number, what: string): Promise<Span[]> {
  const deadline = Date.now() + timeoutMs;
  let last: Span[] = [];
  while (Date.now() < deadline) {
    last = await spans(relay, cameraId);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; spans: ${JSON.stringify(last)}\n${relay.output().slice(-3000)}`);
}

export async function fetchClip(relay: RelayProcess, cameraId: string, from: number, to: number, init: RequestInit = {}, token: string | null = relay.adminToken): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return fetch(`${relay.url}/api/cameras/${cameraId}/recordings/clip.mp4?from=${Math.floor(from)}&to=${Math.ceil(to)}`, { ...init, headers });
}

export interface ProbedFrame {
  keyframe: boolean;
  /** seconds from the clip's start */
  time: number;
}

/** Every video frame ffprobe decodes from the file, in order. */
export async function probeVideoFrames(file: string): Promise<ProbedFrame[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=key_frame,best_effort_timestamp_time', '-of', 'json', file], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const frames = (JSON.parse(stdout) as { frames: Array<{ key_frame: number; best_effort_timestamp_time: string }> }).frames;
  return frames.map((f) => ({ keyframe: f.key_frame === 1, time: Number(f.best_effort_timestamp_time) }));
}

export async function probeStreams(file: string): Promise<Array<{ codec_type: string; codec_name: string }>> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name', '-of', 'json', file]);
  return (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string }> }).streams;
}

/** ffmpeg decodes the whole file; resolves with what it printed at `-v error` (empty: no decode error). */
export async function decodeErrors(file: string): Promise<string> {
  const { stdout, stderr } = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-'], { maxBuffer: 16 * 1024 * 1024 });
  return (stdout + stderr).trim();
}

/**
 * Which frame of the fake camera's looped clip each video packet of an MP4 is, by content: the
 * packets' MD5s (ffmpeg's framemd5 of the stream copied, so as stored) against the clip's access
 * units as MP4 stores them (4-byte NAL lengths, no access unit delimiters).
 */
export async function clipFrameIndexes(file: string, clipUnits: readonly Uint8Array[]): Promise<number[]> {
  const byHash = new Map<string, number>();
  clipUnits.forEach((unit, i) => {
    const parts: Buffer[] = [];
    for (const nal of splitNalUnits(unit)) {
      if ((nal[0]! & 0x1f) === 9) continue;
      const length = Buffer.alloc(4);
      length.writeUInt32BE(nal.byteLength);
      parts.push(length, Buffer.from(nal));
    }
    byHash.set(createHash('md5').update(Buffer.concat(parts)).digest('hex'), i);
  });
  const { stdout } = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-map', '0:v:0', '-c', 'copy', '-f', 'framemd5', '-'], { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const hash = l.split(',').at(-1)!.trim();
      const index = byHash.get(hash);
      if (index === undefined) throw new Error(`a packet that is no frame of the clip: ${l}`);
      return index;
    });
}

/** Frame indexes in the looped clip follow each other: nothing missing, nothing twice, in order. */
export function consecutiveInLoop(indexes: readonly number[], loop: number): string | undefined {
  for (let i = 1; i < indexes.length; i++) {
    if (indexes[i] !== (indexes[i - 1]! + 1) % loop) return `frame ${i}: clip frame ${indexes[i]} after ${indexes[i - 1]}`;
  }
  return undefined;
}
