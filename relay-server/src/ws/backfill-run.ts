import { BACKFILL_MAX_LEAD_US, CloseCode, Track, type BackfillDoneMessage } from '@picam/protocol';
import type { HubFrame } from '../streams/frame.ts';
import { AgentViolation } from './agent-ingest.ts';

/**
 * One backfill run on an agent connection, from the relay's side: the range it asked for, and the
 * checks that keep an agent from writing anything else into the recording. Frames must lie in
 * [fromUs - BACKFILL_MAX_LEAD_US, toUs) (the run may start on the keyframe before fromUs, no
 * further back), the first must be a video keyframe, and each track's capture times must not go
 * backwards. Anything else is an AgentViolation: the connection closes, as for any bad frame.
 */
export class BackfillRun {
  readonly fromUs: number;
  readonly toUs: number;
  frames = 0;
  bytes = 0;
  private readonly lastUs = new Map<Track, number>();

  constructor(fromUs: number, toUs: number) {
    this.fromUs = fromUs;
    this.toUs = toUs;
  }

  /** Throws AgentViolation when the frame is not one the run asked for. */
  accept(frame: HubFrame): void {
    const t = frame.captureTimeUs;
    if (t < this.fromUs - BACKFILL_MAX_LEAD_US || t >= this.toUs) {
      throw violation(`backfill frame at ${t} µs is outside the range asked for (${this.fromUs}..${this.toUs})`);
    }
    if (this.frames === 0 && !(frame.track === Track.Video && frame.keyframe)) {
      throw violation('a backfill run must start on a video keyframe');
    }
    const last = this.lastUs.get(frame.track);
    if (last !== undefined && t < last) throw violation('backfill frames went back in capture time');
    this.lastUs.set(frame.track, t);
    this.frames += 1;
    this.bytes += frame.message.byteLength;
  }

  /** The agent's backfill-done must be about this run. */
  checkDone(message: BackfillDoneMessage): void {
    if (message.fromUs !== this.fromUs || message.toUs !== this.toUs) throw violation('backfill-done for a range that was not asked for');
  }
}

function violation(message: string): AgentViolation {
  return new AgentViolation(CloseCode.PolicyViolation, 'backfill', message);
}
