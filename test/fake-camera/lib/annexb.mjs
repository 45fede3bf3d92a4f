// Splits an H.264 Annex-B byte stream into access units (one coded picture each, with the
// SPS/PPS/SEI that precede it). Deliberately self-contained: the fake camera must not share
// code with protocol/, or a bug there would hide itself in the tests.
//
// Rule (H.264 7.4.1.2.3, simplified for progressive single-layer streams): a new access unit
// starts at the first AUD/SPS/PPS/SEI (or NAL types 14..18) after the current unit already has a
// picture slice, or at a slice with first_mb_in_slice == 0 once the unit has a slice. The clips are
// encoded with two slices per picture, so "every slice starts a frame" would be wrong.

const NAL_SLICE = 1;
const NAL_IDR = 5;
const NAL_SEI = 6;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;

/** @returns {{ offset: number, type: number, payload: number }[]} NAL units; offset = first byte of the start code. */
export function findNalUnits(buf) {
  const nals = [];
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] !== 0 || buf[i + 1] !== 0 || buf[i + 2] !== 1) continue;
    // A 4-byte start code (00 00 00 01) belongs wholly to the NAL unit it introduces.
    const offset = i > 0 && buf[i - 1] === 0 ? i - 1 : i;
    nals.push({ offset, type: buf[i + 3] & 0x1f, payload: i + 3 });
    i += 3;
  }
  return nals;
}

function startsNewUnitBeforePicture(type) {
  return type === NAL_AUD || type === NAL_SPS || type === NAL_PPS || type === NAL_SEI || (type >= 14 && type <= 18);
}

function isSlice(type) {
  return type === NAL_SLICE || type === NAL_IDR;
}

// first_mb_in_slice is the first ue(v) of the slice header; ue(v) == 0 is encoded as a single 1 bit.
// Emulation-prevention bytes cannot occur in the first byte after the NAL header, so no unescaping.
function isFirstSliceOfPicture(buf, payload) {
  return payload + 1 < buf.length && (buf[payload + 1] & 0x80) !== 0;
}

/**
 * @param {Buffer} buf whole Annex-B clip
 * @returns {{ index: number, data: Buffer, withoutParameterSets: Buffer, keyframe: boolean }[]}
 *   `data` is the exact byte range of the clip; `withoutParameterSets` drops SPS/PPS (what the Pi
 *   encoder sends on later keyframes when --inline is not given). Concatenating every `data` gives
 *   back the clip byte for byte.
 */
export function splitAccessUnits(buf) {
  const nals = findNalUnits(buf);
  const units = [];
  let current = [];
  let hasPicture = false;
  const close = (endOffset) => {
    if (current.length > 0) units.push(buildUnit(buf, current, endOffset, units.length));
    current = [];
    hasPicture = false;
  };
  for (const nal of nals) {
    const boundary = isSlice(nal.type)
      ? hasPicture && isFirstSliceOfPicture(buf, nal.payload)
      : hasPicture && startsNewUnitBeforePicture(nal.type);
    if (boundary) close(nal.offset);
    current.push(nal);
    if (isSlice(nal.type)) hasPicture = true;
  }
  close(buf.length);
  // Bytes before the first start code (none in sane clips) ride along with the first unit.
  if (units.length > 0 && nals[0].offset > 0) units[0].data = buf.subarray(0, units[0].data.length + nals[0].offset);
  return units;
}

function buildUnit(buf, nals, endOffset, index) {
  const start = nals[0].offset;
  const data = buf.subarray(start, endOffset);
  const ends = nals.map((n, i) => (i + 1 < nals.length ? nals[i + 1].offset : endOffset));
  const kept = nals.flatMap((n, i) => (n.type === NAL_SPS || n.type === NAL_PPS ? [] : [buf.subarray(n.offset, ends[i])]));
  const withoutParameterSets = kept.length === nals.length ? data : Buffer.concat(kept);
  return { index, data, withoutParameterSets, keyframe: nals.some((n) => n.type === NAL_IDR) };
}
