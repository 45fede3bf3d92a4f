export { NalType, nalType, isVcl, splitNalUnits, removeEmulationPrevention, describeAccessUnit } from './nal.ts';
export type { AccessUnitInfo } from './nal.ts';
export { AccessUnitSplitter, DEFAULT_MAX_ACCESS_UNIT_BYTES } from './access-unit-splitter.ts';
export type { AccessUnit, AccessUnitSplitterOptions } from './access-unit-splitter.ts';
export { BitReader } from './exp-golomb.ts';
export { parseSps, codecStringFromSps, videoFormatOfSps } from './sps.ts';
export type { SpsInfo, SpsVideoFormat } from './sps.ts';
export { buildAvcDecoderConfigurationRecord } from './avc-config.ts';
