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
 * lengths MP4 wants, AAC from ADTS frames to raw blocks. No copy here: a sample's parts are views
 * into the frame's message (shared, never changed once published), which the segment writer
 * copies into its fragment's buffer at once.
 */

export interface VideoSample {
  captureTimeUs: number;
  keyframe: boolean;
  /** bytes in MP4: each NAL unit after its 4-byte length */
  size: number;
  /** the NAL units, without their lengths (written in front of each) */
  nals: Uint8Array[];
}

export interface AudioSample {
  captureTimeUs: number;
  /** in 1/sampleRate units */
  duration: number;
  size: number;
  parts: Uint8Array[];
}

/** The access unit as NAL units for MP4 (4-byte lengths); access unit delimiters are left out (MP4 has none). */
export function videoSample(frame: HubFrame): VideoSample {
  const nals = splitNalUnits(frame.message.subarray(FRAME_HEADER_BYTES));
  let size = 0;
  let kept = 0;
  for (const nal of nals) {
    if (nalType(nal[0]!) === NalType.Aud) continue;
    nals[kept++] = nal;
    size += 4 + nal.byteLength;
  }
  nals.length = kept;
  return { captureTimeUs: frame.captureTimeUs, keyframe: frame.keyframe, size, nals };
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
