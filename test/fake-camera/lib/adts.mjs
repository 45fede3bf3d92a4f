// Splits an ADTS AAC file into frames. Self-contained for the same reason as annexb.mjs.

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/**
 * @param {Buffer} buf whole .aac (ADTS) file
 * @returns {{ index: number, data: Buffer, sampleRate: number, samples: number }[]}
 */
export function splitAdtsFrames(buf) {
  const frames = [];
  let pos = 0;
  while (pos + 7 <= buf.length) {
    if (buf[pos] !== 0xff || (buf[pos + 1] & 0xf6) !== 0xf0) {
      throw new Error(`ADTS sync word missing at byte ${pos}`);
    }
    const sampleRate = SAMPLE_RATES[(buf[pos + 2] >> 2) & 0x0f];
    // aac_frame_length: 13 bits spread over bytes 3..5, counting the header itself.
    const length = ((buf[pos + 3] & 0x03) << 11) | (buf[pos + 4] << 3) | (buf[pos + 5] >> 5);
    // number_of_raw_data_blocks_in_frame + 1 blocks of 1024 samples each.
    const samples = ((buf[pos + 6] & 0x03) + 1) * 1024;
    if (sampleRate === undefined || length < 7 || pos + length > buf.length) {
      throw new Error(`bad ADTS header at byte ${pos}`);
    }
    frames.push({ index: frames.length, data: buf.subarray(pos, pos + length), sampleRate, samples });
    pos += length;
  }
  if (frames.length === 0) throw new Error('no ADTS frames found');
  return frames;
}
