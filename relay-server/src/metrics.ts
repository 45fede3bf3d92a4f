import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics on the relay's own Registry (never prom-client's global one, so tests can start
 * several relays in one process). The per-frame path only touches labelled children cached per
 * camera (`forCamera`): `labels()` hashes its arguments on every call, a cached child does not.
 */

export type DropReason = 'slow' | 'lag' | 'cache';
export type AgentRejectReason =
  | 'unauthenticated'
  | 'invalid_frame'
  | 'invalid_message'
  | 'oversized'
  | 'out_of_order'
  | 'unknown_camera';

/** Counters for one camera, resolved once when its stream is created. */
export interface CameraMetrics {
  videoFramesIn: Counter.Internal;
  videoBytesIn: Counter.Internal;
  audioFramesIn: Counter.Internal;
  audioBytesIn: Counter.Internal;
  framesOut: Counter.Internal;
  bytesOut: Counter.Internal;
  dropped: Record<DropReason, Counter.Internal>;
  viewers: Gauge.Internal<string>;
  /** not per camera: the stream moves it on online/offline transitions */
  camerasOnline: Gauge;
}

export interface RelayMetrics {
  registry: Registry;
  camerasOnline: Gauge;
  agentRejected(reason: AgentRejectReason): void;
  forCamera(cameraId: string): CameraMetrics;
  /** a deleted camera's series disappear rather than linger at their last value */
  forgetCamera(cameraId: string): void;
}

export function createMetrics(): RelayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const camerasOnline = new Gauge({ name: 'picam_cameras_online', help: 'cameras with a connected agent', registers });
  const viewers = new Gauge({ name: 'picam_viewers', help: 'connected viewers', labelNames: ['camera'], registers });
  const framesIn = new Counter({
    name: 'picam_frames_in_total',
    help: 'frames received from agents',
    labelNames: ['camera', 'track'],
    registers,
  });
  const bytesIn = new Counter({
    name: 'picam_bytes_in_total',
    help: 'frame bytes (header included) received from agents',
    labelNames: ['camera', 'track'],
    registers,
  });
  const framesOut = new Counter({
    name: 'picam_frames_out_total',
    help: 'frames sent to viewers (one per viewer)',
    labelNames: ['camera'],
    registers,
  });
  const bytesOut = new Counter({
    name: 'picam_bytes_out_total',
    help: 'frame bytes sent to viewers',
    labelNames: ['camera'],
    registers,
  });
  const dropped = new Counter({
    name: 'picam_frames_dropped_total',
    help: 'frames not delivered: slow (viewer over its byte budget), lag (viewer too far behind), cache (GOP cache over its cap)',
    labelNames: ['camera', 'reason'],
    registers,
  });
  const rejected = new Counter({
    name: 'picam_agent_rejected_total',
    help: 'agent connections refused or closed for misbehaviour',
    labelNames: ['reason'],
    registers,
  });

  const cameras = new Map<string, CameraMetrics>();

  return {
    registry,
    camerasOnline,
    agentRejected: (reason) => rejected.inc({ reason }),
    forCamera(camera) {
      let m = cameras.get(camera);
      if (!m) {
        m = {
          videoFramesIn: framesIn.labels({ camera, track: 'video' }),
          videoBytesIn: bytesIn.labels({ camera, track: 'video' }),
          audioFramesIn: framesIn.labels({ camera, track: 'audio' }),
          audioBytesIn: bytesIn.labels({ camera, track: 'audio' }),
          framesOut: framesOut.labels({ camera }),
          bytesOut: bytesOut.labels({ camera }),
          dropped: {
            slow: dropped.labels({ camera, reason: 'slow' }),
            lag: dropped.labels({ camera, reason: 'lag' }),
            cache: dropped.labels({ camera, reason: 'cache' }),
          },
          viewers: viewers.labels({ camera }),
          camerasOnline,
        };
        cameras.set(camera, m);
      }
      return m;
    },
    forgetCamera(camera) {
      cameras.delete(camera);
      for (const track of ['video', 'audio']) {
        framesIn.remove({ camera, track });
        bytesIn.remove({ camera, track });
      }
      framesOut.remove({ camera });
      bytesOut.remove({ camera });
      for (const reason of ['slow', 'lag', 'cache']) dropped.remove({ camera, reason });
      viewers.remove({ camera });
    },
  };
}
