import fc from 'fast-check';
import { AccessUnitSplitter, AdtsSplitter, DEFAULT_CAMERA_SETTINGS, Track, encodeFrame, type FrameHeaderInit } from '@picam/protocol';
import { readFileSync } from 'node:fs';
import { concatBytes, mutatedBytes } from './fuzz-inputs.ts';

/**
 * What an agent sends, for the fuzz tests of the relay's agent endpoint (in process and over a real
 * socket): frames built from the fixture clips' access units and ADTS frames, under headers that are
 * usually right and sometimes not, with payload and header mutated; and hello/stats examples.
 */

const clipBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/clips/${name}`, import.meta.url)));

/** The first units (an IDR with SPS/PPS, then P frames) of clips with different SPS shapes. */
export function sampleVideoUnits(perClip = 3): Array<{ data: Uint8Array; keyframe: boolean }> {
  return ['640x480-baseline.h264', 'sps-interlaced-720x576.h264', 'sps-scaling-lists-854x480.h264'].flatMap((name) => {
    const splitter = new AccessUnitSplitter();
    return [...splitter.push(clipBytes(name)), ...splitter.flush()].slice(0, perClip);
  });
}

export function sampleAudioFrames(perClip = 2): Uint8Array[] {
  return ['tone-48k-mono.aac', 'tone-44k1-stereo.aac'].flatMap((name) => new AdtsSplitter().push(clipBytes(name)).slice(0, perClip));
}

/** Usually what a good agent sends (flags matching the payload), sometimes not. */
const rarely = fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

/** Binary agent messages: real payloads, mutated, behind a plausible header that is sometimes damaged. */
export function agentFrameMessages(
  videoUnits: ReadonlyArray<{ data: Uint8Array; keyframe: boolean }>,
  audioFrames: readonly Uint8Array[],
): fc.Arbitrary<Uint8Array> {
  const payloads: fc.Arbitrary<{ track: Track; keyframe: boolean; payload: Uint8Array }> = fc.oneof(
    ...videoUnits.map((unit) => mutatedBytes([unit.data]).map((payload) => ({ track: Track.Video, keyframe: unit.keyframe, payload }))),
    ...audioFrames.map((frame) => mutatedBytes([frame], { maxMutations: 3 }).map((payload) => ({ track: Track.Audio, keyframe: false, payload }))),
    fc.record({ track: fc.constantFrom(Track.Video, Track.Audio), keyframe: fc.boolean(), payload: fc.uint8Array({ maxLength: 32 }) }),
  );
  return fc
    .record({ p: payloads, flipKey: rarely, catchUp: rarely, backfill: rarely, sequence: fc.nat({ max: 0xffff_ffff }), time: fc.maxSafeNat(), damage: rarely })
    .chain(({ p, flipKey, catchUp, backfill, sequence, time, damage }) => {
      const header: FrameHeaderInit = { track: p.track, keyframe: p.keyframe !== flipKey, catchUp, backfill, sequence, captureTimeUs: time };
      const message = encodeFrame(header, p.payload);
      if (!damage) return fc.constant(message);
      return mutatedBytes([message.subarray(0, 24)], { maxMutations: 2 }).map((head) => concatBytes([head, message.subarray(24)]));
    });
}

/** Valid hello and stats messages, as seeds for jsonTextMutants. */
export const AGENT_TEXT_EXAMPLES: readonly unknown[] = [
  { type: 'hello', agentVersion: '0.1.0', settings: DEFAULT_CAMERA_SETTINGS, video: { codec: 'avc1.42c01e', width: 640, height: 480, framerate: 30 }, audio: null },
  { type: 'hello', agentVersion: '0.1.0', settings: DEFAULT_CAMERA_SETTINGS, video: null, audio: { codec: 'mp4a.40.2', sampleRate: 48000, channels: 1 } },
  {
    type: 'stats',
    camera: 'running',
    audio: null,
    framesCaptured: 10,
    framesSent: 9,
    framesDropped: 1,
    tornFrames: 0,
    cameraRestarts: 0,
    queueBytes: 0,
    uptimeSeconds: 1.5,
    lastError: null,
  },
];
