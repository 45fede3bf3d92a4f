// Types for adts.mjs.
export interface AdtsFrame {
  index: number;
  data: Buffer;
  sampleRate: number;
  /** PCM samples per channel in this frame (1024 per raw data block). */
  samples: number;
}
export function splitAdtsFrames(buf: Buffer): AdtsFrame[];
