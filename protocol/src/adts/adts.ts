import { ProtocolError } from '../errors.ts';

/** RFC 6381 codec string for AAC-LC, what the Pi's audio path produces. */
export const AAC_LC_CODEC = 'mp4a.40.2';
/** AAC frames (raw data blocks) are 1024 samples long. */
export const AAC_SAMPLES_PER_BLOCK = 1024;
/** The fixed header is 7 bytes; protection_absent = 0 adds a 2-byte CRC. */
export const ADTS_HEADER_BYTES = 7;

/** sampling_frequency_index -> Hz (ISO/IEC 14496-3 1.6.3.4); 13..15 are reserved or escape codes. */
const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AdtsHeader {
  /** MPEG-4 Audio Object Type: profile + 1, so 2 = AAC-LC. */
  objectType: number;
  sampleRate: number;
  samplingFrequencyIndex: number;
  /** channel_configuration as coded (1..7). */
  channelConfiguration: number;
  /** Speaker count: the configuration, except 7 which means 7.1 (8 channels). */
  channels: number;
  /** Whole frame, header included. */
  frameLength: number;
  /** 7, or 9 with CRC. */
  headerLength: number;
  /** Raw data blocks in the frame (number_of_raw_data_blocks_in_frame + 1), 1024 samples each. */
  rawBlocks: number;
}

/** Whether bytes[offset..] start with the ADTS syncword 0xFFF and layer 0 (a cheap pre-check). */
export function isAdtsSync(bytes: Uint8Array, offset = 0): boolean {
  return bytes[offset] === 0xff && ((bytes[offset + 1] ?? 0) & 0xf6) === 0xf0;
}

/** Parses the ADTS header at `offset` (ISO/IEC 13818-7 6.2 / 14496-3 1.A.2). Throws ERR_ADTS_INVALID. */
export function parseAdtsHeader(bytes: Uint8Array, offset = 0): AdtsHeader {
  if (!Number.isInteger(offset) || offset < 0 || bytes.length - offset < ADTS_HEADER_BYTES) {
    throw invalid(`need ${ADTS_HEADER_BYTES} bytes at offset ${offset}, have ${Math.max(0, bytes.length - offset)}`);
  }
  const b1 = bytes[offset + 1]!;
  const b2 = bytes[offset + 2]!;
  const b3 = bytes[offset + 3]!;
  const b4 = bytes[offset + 4]!;
  const b5 = bytes[offset + 5]!;
  const b6 = bytes[offset + 6]!;
  if (bytes[offset] !== 0xff || (b1 & 0xf0) !== 0xf0) throw invalid('no 0xFFF syncword');
  if ((b1 & 0x06) !== 0) throw invalid('layer is not 0');
  const protectionAbsent = (b1 & 0x01) === 1;
  const objectType = (b2 >> 6) + 1;
  const samplingFrequencyIndex = (b2 >> 2) & 0x0f;
  const sampleRate = SAMPLE_RATES[samplingFrequencyIndex];
  if (sampleRate === undefined) throw invalid(`reserved sampling_frequency_index ${samplingFrequencyIndex}`);
  const channelConfiguration = ((b2 & 0x01) << 2) | (b3 >> 6);
  // 0 means "described by a program_config_element in the payload": no browser decoder takes that.
  if (channelConfiguration === 0) throw invalid('channel_configuration 0 (PCE) is not supported');
  const frameLength = ((b3 & 0x03) << 11) | (b4 << 3) | (b5 >> 5);
  const headerLength = protectionAbsent ? ADTS_HEADER_BYTES : ADTS_HEADER_BYTES + 2;
  if (frameLength <= headerLength) throw invalid(`frame_length ${frameLength} leaves no payload`);
  return {
    objectType,
    sampleRate,
    samplingFrequencyIndex,
    channelConfiguration,
    channels: channelConfiguration === 7 ? 8 : channelConfiguration,
    frameLength,
    headerLength,
    rawBlocks: (b6 & 0x03) + 1,
  };
}

/**
 * The 2-byte AudioSpecificConfig (14496-3 1.6.2.1) for a WebCodecs AudioDecoder `description` or an
 * MSE init segment: objectType(5) samplingFrequencyIndex(4) channelConfiguration(4) and a zero
 * GASpecificConfig (1024-sample frames, no core coder, no extension).
 */
export function audioSpecificConfig(h: AdtsHeader): Uint8Array {
  return new Uint8Array([
    (h.objectType << 3) | (h.samplingFrequencyIndex >> 1),
    ((h.samplingFrequencyIndex & 1) << 7) | (h.channelConfiguration << 3),
  ]);
}

/** `mp4a.40.<objectType>`: equal to AAC_LC_CODEC for AAC-LC. */
export function adtsCodecString(h: AdtsHeader): string {
  return `mp4a.40.${h.objectType}`;
}

/** Duration of one ADTS frame in microseconds (not rounded: round when stamping, not when summing). */
export function adtsFrameDurationUs(h: AdtsHeader): number {
  return (h.rawBlocks * AAC_SAMPLES_PER_BLOCK * 1_000_000) / h.sampleRate;
}

function invalid(message: string): ProtocolError {
  return new ProtocolError('ERR_ADTS_INVALID', `ADTS: ${message}`);
}
