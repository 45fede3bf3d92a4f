// Types for annexb.mjs, so TypeScript tests can check the fake's splitting against ffprobe.
export interface NalUnit {
  /** First byte of the start code. */
  offset: number;
  type: number;
  /** First byte after the start code (the NAL header). */
  payload: number;
}
export interface AccessUnit {
  index: number;
  /** Exact byte range of the clip. */
  data: Buffer;
  /** Same unit without SPS/PPS (what later keyframes look like without --inline). */
  withoutParameterSets: Buffer;
  keyframe: boolean;
}
export function findNalUnits(buf: Buffer): NalUnit[];
export function splitAccessUnits(buf: Buffer): AccessUnit[];
