import { ProtocolError } from '../errors.ts';
import { MAX_FRAMERATE, type VideoFormat } from '../messages.ts';
import { BitReader } from './exp-golomb.ts';
import { NalType, nalType, removeEmulationPrevention } from './nal.ts';

/** What the relay and the browser need from a sequence parameter set (H.264 7.3.2.1.1). */
export interface SpsInfo {
  profileIdc: number;
  /** The whole byte after profile_idc: constraint_set0..5 flags and 2 reserved bits. */
  constraintFlags: number;
  levelIdc: number;
  spsId: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 (1 when the profile does not signal it). */
  chromaFormatIdc: number;
  separateColourPlane: boolean;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** false: the stream may hold fields or MBAFF frames (interlaced). */
  frameMbsOnly: boolean;
  /** Decoded picture size in whole macroblocks. */
  codedWidth: number;
  codedHeight: number;
  /** Displayed size, after the frame cropping rectangle. */
  width: number;
  height: number;
  /** From VUI timing_info when present: time_scale / (2 * num_units_in_tick). */
  framerate?: number;
  /** RFC 6381 / WebCodecs codec string, `avc1.PPCCLL` in lower-case hex, e.g. `avc1.64001f`. */
  codecString: string;
}

/**
 * The part of a stream's VideoFormat an SPS tells: the frame rate only when its VUI carries a
 * plausible one (up to MAX_FRAMERATE); otherwise the sender falls back on its configured rate.
 */
export type SpsVideoFormat = Omit<VideoFormat, 'framerate'> & Partial<Pick<VideoFormat, 'framerate'>>;

export function videoFormatOfSps(info: SpsInfo): SpsVideoFormat {
  const format: SpsVideoFormat = { codec: info.codecString, width: info.width, height: info.height };
  if (info.framerate !== undefined && info.framerate <= MAX_FRAMERATE) format.framerate = info.framerate;
  return format;
}

/**
 * Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1).
 * 144 is the withdrawn original High 4:4:4 profile, which used the same syntax; old files still carry it.
 */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144]);
/** Profiles without those fields: Baseline, Main, Extended. */
const BASIC_PROFILES = new Set([66, 77, 88]);

/** Parses an SPS NAL unit (header byte included, no start code; emulation prevention allowed). */
export function parseSps(spsNal: Uint8Array): SpsInfo {
  if (spsNal.length < 4) throw new ProtocolError('ERR_SPS_INVALID', `SPS too short (${spsNal.length} bytes)`);
  const header = spsNal[0]!;
  if ((header & 0x80) !== 0 || nalType(header) !== NalType.Sps) {
    throw new ProtocolError('ERR_SPS_INVALID', `not an SPS NAL unit (header byte 0x${header.toString(16)})`);
  }
  const r = new BitReader(removeEmulationPrevention(spsNal).subarray(1));
  const profileIdc = r.readBits(8);
  const constraintFlags = r.readBits(8);
  const levelIdc = r.readBits(8);
  const spsId = r.readUe();
  check(spsId <= 31, `seq_parameter_set_id ${spsId} > 31`);
  if (!HIGH_PROFILES.has(profileIdc) && !BASIC_PROFILES.has(profileIdc)) {
    // An unknown profile may use syntax we cannot skip: refuse rather than report a wrong size.
    throw new ProtocolError('ERR_SPS_UNSUPPORTED', `unknown profile_idc ${profileIdc}`);
  }

  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.readUe();
    check(chromaFormatIdc <= 3, `chroma_format_idc ${chromaFormatIdc} > 3`);
    if (chromaFormatIdc === 3) separateColourPlane = r.readFlag();
    bitDepthLuma = r.readUe() + 8;
    bitDepthChroma = r.readUe() + 8;
    check(bitDepthLuma <= 14 && bitDepthChroma <= 14, 'bit depth above 14');
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.readFlag()) skipScalingMatrix(r, chromaFormatIdc === 3 ? 12 : 8);
  }

  const log2MaxFrameNumMinus4 = r.readUe();
  check(log2MaxFrameNumMinus4 <= 12, `log2_max_frame_num_minus4 ${log2MaxFrameNumMinus4} > 12`);
  const picOrderCntType = r.readUe();
  if (picOrderCntType === 0) {
    check(r.readUe() <= 12, 'log2_max_pic_order_cnt_lsb_minus4 > 12');
  } else if (picOrderCntType === 1) {
    r.skip(1); // delta_pic_order_always_zero_flag
    r.readSe(); // offset_for_non_ref_pic
    r.readSe(); // offset_for_top_to_bottom_field
    const cycle = r.readUe();
    check(cycle <= 255, `num_ref_frames_in_pic_order_cnt_cycle ${cycle} > 255`);
    for (let i = 0; i < cycle; i++) r.readSe();
  } else {
    check(picOrderCntType === 2, `pic_order_cnt_type ${picOrderCntType} > 2`);
  }
  r.readUe(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = r.readUe() + 1;
  const heightInMapUnits = r.readUe() + 1;
  const frameMbsOnly = r.readFlag();
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag
  // Far above level 6.2 (139264 macroblocks): a number this size is a corrupt SPS, not a picture.
  check(widthInMbs <= 2048 && heightInMapUnits <= 2048, `picture ${widthInMbs}x${heightInMapUnits} macroblocks`);

  // A field (map unit) is half a frame high: frames have twice as many macroblock rows (7-18).
  const codedWidth = widthInMbs * 16;
  const codedHeight = (frameMbsOnly ? 1 : 2) * heightInMapUnits * 16;
  let width = codedWidth;
  let height = codedHeight;
  if (r.readFlag()) {
    const left = r.readUe();
    const right = r.readUe();
    const top = r.readUe();
    const bottom = r.readUe();
    // Crop offsets count chroma samples, and for interlaced streams field rows (7-19..7-22).
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
    width -= cropUnitX * (left + right);
    height -= cropUnitY * (top + bottom);
    check(width > 0 && height > 0, `cropping leaves ${width}x${height}`);
  }

  const framerate = r.readFlag() ? readVuiFrameRate(r) : undefined;
  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    spsId,
    chromaFormatIdc,
    separateColourPlane,
    bitDepthLuma,
    bitDepthChroma,
    frameMbsOnly,
    codedWidth,
    codedHeight,
    width,
    height,
    ...(framerate === undefined ? {} : { framerate }),
    codecString: `avc1.${hex2(profileIdc)}${hex2(constraintFlags)}${hex2(levelIdc)}`,
  };
}

/** The codec string alone, from the three bytes after the SPS header (no full parse needed). */
export function codecStringFromSps(spsNal: Uint8Array): string {
  if (spsNal.length < 4) throw new ProtocolError('ERR_SPS_INVALID', `SPS too short (${spsNal.length} bytes)`);
  return `avc1.${hex2(spsNal[1]!)}${hex2(spsNal[2]!)}${hex2(spsNal[3]!)}`;
}

/** seq_scaling_list_present_flag[i] + scaling_list() (7.3.2.1.1.1): 4x4 lists first, then 8x8. */
function skipScalingMatrix(r: BitReader, lists: number): void {
  for (let i = 0; i < lists; i++) {
    if (!r.readFlag()) continue;
    const size = i < 6 ? 16 : 64;
    let lastScale = 8;
    let nextScale = 8;
    for (let j = 0; j < size && nextScale !== 0; j++) {
      const delta = r.readSe();
      check(delta >= -128 && delta <= 127, `delta_scale ${delta} out of range`);
      nextScale = (lastScale + delta + 256) % 256;
      // nextScale 0 means "use the default matrix" (j = 0) or "repeat the last value": no more deltas.
      if (nextScale !== 0) lastScale = nextScale;
    }
  }
}

/**
 * Reads VUI fields up to timing_info (E.1.1). The VUI is optional metadata, and some encoders write
 * it truncated: a broken VUI yields "no frame rate", not a rejected stream.
 */
function readVuiFrameRate(r: BitReader): number | undefined {
  try {
    if (r.readFlag()) {
      // aspect_ratio_info: 255 = Extended_SAR, followed by sar_width and sar_height.
      if (r.readBits(8) === 255) r.skip(32);
    }
    if (r.readFlag()) r.skip(1); // overscan_appropriate_flag
    if (r.readFlag()) {
      r.skip(4); // video_format, video_full_range_flag
      if (r.readFlag()) r.skip(24); // colour_primaries, transfer_characteristics, matrix_coefficients
    }
    if (r.readFlag()) {
      r.readUe(); // chroma_sample_loc_type_top_field
      r.readUe(); // chroma_sample_loc_type_bottom_field
    }
    if (!r.readFlag()) return undefined;
    const numUnitsInTick = r.readBits(32);
    const timeScale = r.readBits(32);
    if (numUnitsInTick === 0 || timeScale === 0) return undefined;
    // One frame is two ticks (a tick is a field period), E.2.1.
    return timeScale / (2 * numUnitsInTick);
  } catch (err) {
    if (err instanceof ProtocolError) return undefined;
    throw err;
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new ProtocolError('ERR_SPS_INVALID', message);
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
