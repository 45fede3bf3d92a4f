/**
 * H.264 NAL unit basics over Annex-B byte streams (ITU-T H.264 Annex B and 7.3.1).
 *
 * Everything here works on Uint8Array only (the browser imports it too) and never copies unless it
 * has to: NAL bodies are returned as views into the input.
 */

/** nal_unit_type values (H.264 Table 7-1). A const object, not an enum: `erasableSyntaxOnly`. */
export const NalType = {
  Unspecified: 0,
  NonIdrSlice: 1,
  PartitionA: 2,
  PartitionB: 3,
  PartitionC: 4,
  Idr: 5,
  Sei: 6,
  Sps: 7,
  Pps: 8,
  Aud: 9,
  EndOfSequence: 10,
  EndOfStream: 11,
  Filler: 12,
  SpsExt: 13,
  Prefix: 14,
  SubsetSps: 15,
  Dps: 16,
  AuxiliarySlice: 19,
  SliceExtension: 20,
  SliceExtensionDepth: 21,
} as const;
export type NalType = (typeof NalType)[keyof typeof NalType];

/**
 * Node's Buffer#indexOf is memchr and accepts any Uint8Array; browsers get the typed array's own
 * (still several times faster than a JS loop over a frame).
 */
const nativeIndexOf: (this: Uint8Array, value: number, from: number) => number =
  (globalThis as { Buffer?: { prototype: { indexOf: (value: number, from: number) => number } } }).Buffer?.prototype.indexOf ??
  Uint8Array.prototype.indexOf;

/** Index of the first `value` byte at or after `from`, or -1. */
export function indexOfByte(bytes: Uint8Array, value: number, from: number): number {
  return nativeIndexOf.call(bytes, value, from);
}

/** nal_unit_type from a NAL header byte (the first byte after the start code). */
export function nalType(headerByte: number): number {
  return headerByte & 0x1f;
}

/** Coded slice / data partition NAL units of the primary picture (types 1..5). */
export function isVcl(type: number): boolean {
  return type >= NalType.NonIdrSlice && type <= NalType.Idr;
}

/**
 * Splits an Annex-B byte stream into NAL unit bodies (start codes removed, views into `annexB`).
 *
 * Byte-stream rules (B.2): a NAL unit starts after `00 00 01` and ends where the next `00 00 00` or
 * `00 00 01` begins, so zeros in front of a start code (the 4-byte form, trailing_zero_8bits) belong to
 * the separator, while a lone 0x00 followed by anything else is NAL payload. A NAL unit never ends in
 * 0x00 (7.4.1: an RBSP ending in 0x00 gets a 0x03 appended), so zeros at the very end of the buffer are
 * trailing zero bytes too. Bytes before the first start code are not a NAL unit and are skipped, as are
 * empty NAL units (two start codes in a row).
 */
export function splitNalUnits(annexB: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  const n = annexB.length;
  let bodyStart = -1; // start of the NAL unit being read, -1 before the first start code
  // Only runs of 0x00 can end a NAL unit or begin a start code, so the scan jumps from one zero to
  // the next with a native byte search and looks at each run and the byte after it.
  let i = indexOfByte(annexB, 0, 0);
  while (i >= 0) {
    let end = i + 1;
    while (end < n && annexB[end] === 0) end++;
    const run = end - i;
    // `00 00 00` never occurs inside a NAL unit, and `00 00 01` starts the next: either way the
    // current one ended where the run began. Zeros at the very end are trailing zeros.
    const startCode = run >= 2 && end < n && annexB[end] === 1;
    if (bodyStart >= 0 && (run >= 3 || startCode || end === n)) {
      pushBody(units, annexB, bodyStart, i);
      bodyStart = -1;
    }
    if (startCode) bodyStart = end + 1;
    if (end >= n - 1) break;
    i = indexOfByte(annexB, 0, end + 1);
  }
  if (bodyStart >= 0) pushBody(units, annexB, bodyStart, n);
  return units;
}

function pushBody(units: Uint8Array[], annexB: Uint8Array, start: number, end: number): void {
  if (end > start) units.push(annexB.subarray(start, end));
}

/**
 * Turns a NAL unit into its RBSP by removing emulation-prevention bytes (`00 00 03` -> `00 00`, 7.4.1).
 * Only for parsing (SPS, SEI, slice headers): forwarded video must keep these bytes. Returns the input
 * itself when there is nothing to remove.
 */
export function removeEmulationPrevention(nal: Uint8Array): Uint8Array {
  const n = nal.length;
  let first = -1;
  for (let i = 2; i < n; i++) {
    if (nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) {
      first = i;
      break;
    }
  }
  if (first < 0) return nal;
  const out = new Uint8Array(n);
  out.set(nal.subarray(0, first));
  let o = first;
  let zeros = 0;
  for (let i = first + 1; i < n; i++) {
    const b = nal[i]!;
    // After `00 00`, a 0x03 is an emulation-prevention byte: drop it and restart the zero count.
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

export interface AccessUnitInfo {
  /** Contains an IDR slice (nal_unit_type 5): decoding can start here. */
  keyframe: boolean;
  /** nal_unit_type of every NAL unit, in order. */
  nalTypes: number[];
  /** The first SPS NAL unit (header byte included, no start code, emulation prevention kept). */
  sps?: Uint8Array;
  /** Every PPS NAL unit, same form as `sps`. */
  pps: Uint8Array[];
}

/** What an access unit (Annex-B, with start codes) contains: keyframe flag and parameter sets. */
export function describeAccessUnit(au: Uint8Array): AccessUnitInfo {
  const info: AccessUnitInfo = { keyframe: false, nalTypes: [], pps: [] };
  for (const nal of splitNalUnits(au)) {
    const type = nalType(nal[0]!);
    info.nalTypes.push(type);
    if (type === NalType.Idr) info.keyframe = true;
    else if (type === NalType.Sps && info.sps === undefined) info.sps = nal;
    else if (type === NalType.Pps) info.pps.push(nal);
  }
  return info;
}
