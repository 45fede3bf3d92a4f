import { ProtocolError } from '../errors.ts';
import { NalType, nalType } from './nal.ts';
import { parseSps } from './sps.ts';

/** Profiles whose avcC record carries the chroma / bit-depth extension (ISO/IEC 14496-15 5.3.3.1.2). */
const EXTENDED_RECORD_PROFILES = new Set([100, 110, 122, 144]);

/**
 * Builds an AVCDecoderConfigurationRecord ("avcC", ISO/IEC 14496-15 5.3.3.1) from one SPS and its
 * PPS NAL units (header byte included, no start code, emulation prevention kept as in the stream).
 *
 * The browser passes it as WebCodecs `description` with an `avc1.PPCCLL` codec string: Safari rejects
 * `avc3` (in-band parameter sets only), so the record is how it learns SPS/PPS. NAL lengths in the
 * samples are 4 bytes (lengthSizeMinusOne = 3).
 */
export function buildAvcDecoderConfigurationRecord(sps: Uint8Array, ppsList: Uint8Array[]): Uint8Array {
  const info = parseSps(sps);
  if (sps.length > 0xffff) throw new ProtocolError('ERR_SPS_INVALID', `SPS of ${sps.length} bytes does not fit avcC`);
  if (ppsList.length === 0 || ppsList.length > 255) {
    throw new ProtocolError('ERR_SPS_INVALID', `avcC needs 1..255 PPS, got ${ppsList.length}`);
  }
  for (const pps of ppsList) {
    if (pps.length === 0 || pps.length > 0xffff || nalType(pps[0]!) !== NalType.Pps) {
      throw new ProtocolError('ERR_SPS_INVALID', 'invalid PPS NAL unit for avcC');
    }
  }
  const extended = EXTENDED_RECORD_PROFILES.has(info.profileIdc);
  let size = 6 + 2 + sps.length + 1;
  for (const pps of ppsList) size += 2 + pps.length;
  if (extended) size += 4;

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let o = 0;
  out[o++] = 1; // configurationVersion
  out[o++] = sps[1]!; // AVCProfileIndication
  out[o++] = sps[2]!; // profile_compatibility (the constraint flags byte)
  out[o++] = sps[3]!; // AVCLevelIndication
  out[o++] = 0xfc | 3; // reserved '111111' + lengthSizeMinusOne
  out[o++] = 0xe0 | 1; // reserved '111' + numOfSequenceParameterSets
  view.setUint16(o, sps.length);
  o += 2;
  out.set(sps, o);
  o += sps.length;
  out[o++] = ppsList.length;
  for (const pps of ppsList) {
    view.setUint16(o, pps.length);
    o += 2;
    out.set(pps, o);
    o += pps.length;
  }
  if (extended) {
    out[o++] = 0xfc | info.chromaFormatIdc;
    out[o++] = 0xf8 | (info.bitDepthLuma - 8);
    out[o++] = 0xf8 | (info.bitDepthChroma - 8);
    out[o++] = 0; // numOfSequenceParameterSetExt
  }
  return out;
}
