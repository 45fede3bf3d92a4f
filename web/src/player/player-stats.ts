import type { LiveAudioStats } from './live-audio.ts';
import type { PlayerState } from './player-state.ts';
import type { PlayerPath } from './renderer.ts';

/**
 * What a player knows about its stream, as `stats()` returns it: the stats panel shows it, and the
 * browser tests and benchmarks read it through the test hook (test-hook.ts). The tests read these
 * fields by name, so a rename here fails their type check.
 */

export interface PlayerStats {
  path: PlayerPath | null;
  state: PlayerState;
  framesReceived: number;
  framesDecoded: number;
  framesShown: number;
  framesDropped: number;
  /** sequence number of the newest frame on screen (-1 before the first) */
  lastFrameSequence: number;
  lastReceivedSequence: number;
  width: number;
  height: number;
  codec: string | null;
  /** frames shown per second, last second */
  fps: number;
  /** bits received per second, last second */
  bitrate: number;
  /** shown time - capture time of the newest frame on screen, clock-adjusted (ms), null before one */
  latencyMs: number | null;
  clockOffsetMs: number;
  decoderResets: number;
  reconnects: number;
  queue: number;
  lastError: string | null;
  /** the camera sends sound (init.audio) */
  hasAudio: boolean;
  muted: boolean;
  /** capture time (agent clock, µs) of the picture on screen now; null before one */
  videoClockUs: number | null;
}

export type PlayerFullStats = PlayerStats & LiveAudioStats;
