import type { CameraProcessStatus, StatsMessage } from '@picam/protocol';

/**
 * Counters the relay shows an admin (`stats`, every 2 s). Plain fields incremented on the frame
 * path: no allocation per frame. framesDropped counts every frame that never reached the relay:
 * while disconnected, over the send budget, or skipped after a torn frame.
 */
export class AgentStats {
  readonly startedAt = performance.now();
  framesCaptured = 0;
  framesSent = 0;
  framesDropped = 0;
  tornFrames = 0;
  cameraRestarts = 0;
  lastError: string | null = null;

  toMessage(camera: CameraProcessStatus, audio: CameraProcessStatus | null, queueBytes: number): StatsMessage {
    return {
      type: 'stats',
      camera,
      audio,
      framesCaptured: this.framesCaptured,
      framesSent: this.framesSent,
      framesDropped: this.framesDropped,
      tornFrames: this.tornFrames,
      cameraRestarts: this.cameraRestarts,
      queueBytes: Math.max(0, Math.trunc(queueBytes)),
      uptimeSeconds: Math.round((performance.now() - this.startedAt) / 100) / 10,
      lastError: this.lastError === null ? null : this.lastError.slice(0, 1024),
    };
  }
}
