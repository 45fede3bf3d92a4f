export {
  AAC_LC_CODEC,
  AAC_SAMPLES_PER_BLOCK,
  ADTS_HEADER_BYTES,
  isAdtsSync,
  parseAdtsHeader,
  audioSpecificConfig,
  adtsCodecString,
  adtsFrameDurationUs,
} from './adts.ts';
export type { AdtsHeader } from './adts.ts';
export { AdtsSplitter, MAX_ADTS_FRAME_BYTES } from './adts-splitter.ts';
export type { AdtsSplitterOptions } from './adts-splitter.ts';
