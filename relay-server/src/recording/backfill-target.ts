import type { SpsVideoFormat } from '@picam/protocol';
import type { HubFrame } from '../streams/frame.ts';

/**
 * What an agent connection needs from the recorder to fill the hole a dropped link left: the agent
 * kept its frames while the link was down and sends them, flagged backfill, after it reconnects
 * (docs/ARCHITECTURE.md "Recording and backfill"). Backfill frames never reach live viewers.
 */
export interface BackfillTarget {
  /** Capture time (µs) of the newest frame recorded for the camera; null when it does not record or has nothing yet. */
  recordedUntilUs(cameraId: string): number | null;
  /** One validated backfill frame; a run starts on a keyframe and comes in capture order. */
  writeBackfill(cameraId: string, frame: HubFrame, sps?: SpsVideoFormat): void;
  /** The run is over (the agent said so, or its socket closed): close what was written. */
  endBackfill(cameraId: string): void;
}
