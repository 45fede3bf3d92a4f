import {
  AAC_SAMPLES_PER_BLOCK,
  FRAME_HEADER_BYTES,
  NalType,
  buildAvcDecoderConfigurationRecord,
  isAdtsSync,
  nalType,
  parseAdtsHeader,
  parseSps,
  splitNalUnits,
} from '@picam/protocol';
import type { HubFrame } from '../streams/frame.ts';
import type { AudioTrackConfig, VideoTrackConfig } from './fmp4.ts';

/**
 * The agent's frames as MP4 samples: H.264 access units from Annex B (start codes) to the 4-byte
 * lengths MP4 wants, AAC from ADTS frames to raw blocks. Video is converted straight into the
 * segment writer's fragment buffer (writeMp4Sample): this runs for every frame of every recording
 * camera, so it makes no objects and finds start codes with the native Buffer.indexOf, one call
 * per NAL unit. Audio samples are views into the frame's message (shared, never changed once
 * published), which the segment writer copies into its fragment's buffer at once.
 */

export interface AudioSample {
  captureTimeUs: number;
  /** in 1/sampleRate units */
  duration: number;
  size: number;
  parts: Uint8Array[];
}

const START_CODE = Buffer.from([0, 0, 1]);

/** Room writeMp4Sample needs in `out` for a message of `annexBBytes` (all of it, header included). */
export function maxMp4SampleBytes(annexBBytes: number): number {
  return annexBBytes + Math.ceil(annexBBytes / 3) + 4;
}

/**
 * The access unit in `annexB` from byte `from` on, written into `out` at `at` as an MP4 sample:
 * each NAL unit after its 4-byte big-endian length, access unit delimiters left out (MP4 has
 * none). Returns the bytes written; `out` must have maxMp4SampleBytes(annexB.byteLength) of room
 * from `at`, all of which it may overwrite. A NAL unit ends where the zeros before the next start
 * code begin (a 4-byte start code's first zero, trailing zero bytes), as splitNalUnits has it;
 * `00 00 01` cannot occur inside one (emulation prevention).
 *
 * No object is made: the whole message is copied once, a little further on in `out`
 * (TypedArray.set), and each NAL unit is moved back into place within `out` (copyWithin), behind
 * its length. Copying each NAL unit from `annexB` instead would make a view per unit (Buffer.copy
 * does), 1500 a second for 50 cameras, which the young generation has to collect.
 */
export function writeMp4Sample(annexB: Buffer, from: number, out: Buffer, at: number): number {
  const n = annexB.byteLength;
  let code = annexB.indexOf(START_CODE, from);
  if (code < 0) return 0;
  // Far enough on that every unit moves back (or stays): a 3-byte start code, at least, makes room
  // for each 4-byte length, and there are at most ceil((n - from) / 3) units.
  const copyAt = at + Math.ceil((n - from) / 3) + 4;
  out.set(annexB, copyAt);
  let o = at;
  while (code >= 0) {
    const start = code + 3;
    code = start < n ? annexB.indexOf(START_CODE, start) : -1;
    let end = code < 0 ? n : code;
    while (end > start && annexB[end - 1] === 0) end--;
    if (end > start && nalType(annexB[start]!) !== NalType.Aud) {
      out.writeUInt32BE(end - start, o);
      out.copyWithin(o + 4, copyAt + start, copyAt + end);
      o += 4 + end - start;
    }
  }
  return o - at;
}

/** The video track's description from a keyframe's in-band SPS and PPS; undefined when it lacks them. */
export function videoConfigOf(frame: HubFrame): VideoTrackConfig | undefined {
  let sps: Uint8Array | undefined;
  const pps: Uint8Array[] = [];
  for (const nal of splitNalUnits(frame.message.subarray(FRAME_HEADER_BYTES))) {
    const type = nalType(nal[0]!);
    if (type === NalType.Sps && !sps) sps = nal;
    else if (type === NalType.Pps) pps.push(nal);
    else if (type === NalType.Idr || type === NalType.NonIdrSlice) break;
  }
  if (!sps || pps.length === 0) return undefined;
  try {
    const { width, height } = parseSps(sps);
    return { width, height, avcC: buildAvcDecoderConfigurationRecord(sps, pps) };
  } catch {
    return undefined;
  }
}

export function sameVideoConfig(a: VideoTrackConfig, b: VideoTrackConfig): boolean {
  return a.width === b.width && a.height === b.height && Buffer.compare(a.avcC, b.avcC) === 0;
}

/** Each ADTS frame in the message as one sample (the ingest validated the first header). */
export function audioSamples(frame: HubFrame, config: AudioTrackConfig): AudioSample[] {
  const payload = frame.message.subarray(FRAME_HEADER_BYTES);
  const out: AudioSample[] = [];
  let timeUs = frame.captureTimeUs;
  for (let o = 0; o < payload.byteLength && isAdtsSync(payload, o); ) {
    let header;
    try {
      header = parseAdtsHeader(payload, o);
    } catch {
      break;
    }
    if (o + header.frameLength > payload.byteLength) break;
    // A track has one sample rate and channel count: a frame that differs is not this track's.
    if (header.sampleRate !== config.sampleRate || header.channels !== config.channels) break;
    const duration = header.rawBlocks * AAC_SAMPLES_PER_BLOCK;
    const data = payload.subarray(o + header.headerLength, o + header.frameLength);
    out.push({ captureTimeUs: timeUs, duration, size: data.byteLength, parts: [data] });
    timeUs += (duration * 1_000_000) / config.sampleRate;
    o += header.frameLength;
  }
  return out;
}
