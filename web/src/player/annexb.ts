import { NalType, nalType, splitNalUnits } from '@picam/protocol';

/**
 * Annex-B (start codes) to the length-prefixed form WebCodecs wants with an avcC `description`
 * (4-byte big-endian lengths, lengthSizeMinusOne = 3 in the record protocol builds).
 *
 * SPS and PPS are left out: they travel in the decoder's description, which the player rebuilds when
 * they change, and some decoders (Safari's) refuse parameter sets in-band with `avc1`. Access unit
 * delimiters carry nothing a decoder needs. Everything else (slices, SEI, unknown types) is kept,
 * emulation-prevention bytes included.
 */
const OUT_OF_BAND = new Set<number>([NalType.Sps, NalType.Pps, NalType.Aud]);

export function annexBToLengthPrefixed(accessUnit: Uint8Array): Uint8Array {
  const nals = splitNalUnits(accessUnit).filter((nal) => nal.length > 0 && !OUT_OF_BAND.has(nalType(nal[0]!)));
  let size = 0;
  for (const nal of nals) size += 4 + nal.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const nal of nals) {
    view.setUint32(offset, nal.length);
    out.set(nal, offset + 4);
    offset += 4 + nal.length;
  }
  return out;
}

export { sameBytes } from '@picam/protocol';
