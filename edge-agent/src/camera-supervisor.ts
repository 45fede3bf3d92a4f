import type { CameraProcessStatus, ProtocolError } from '@picam/protocol';
import type { CaptureClock } from './clock.ts';
import type { Tuning } from './config.ts';
import { FrameReader, type CapturedFrame } from './frame-reader.ts';
import type { Logger } from './logger.ts';
import type { AgentStats } from './stats.ts';
import { SupervisedProcess } from './supervised-process.ts';

export interface CameraSupervisorOptions {
  /** Looked up again before every start: installing rpicam-vid later needs no agent restart. */
  resolveCommand: () => string | null;
  /** Read before every start, so new settings apply on the next (re)start. */
  args: () => string[];
  env?: NodeJS.ProcessEnv;
  log: Logger;
  stats: AgentStats;
  clock: CaptureClock;
  tuning: Pick<Tuning, 'stallTimeoutMs' | 'cameraRestartMinMs' | 'cameraRestartMaxMs' | 'flushDelayMs' | 'drainFlush'>;
  onFrame: (frame: CapturedFrame) => void;
  onStatus?: (status: CameraProcessStatus) => void;
}

/**
 * The camera's stdout is read into one buffer of this size (no allocation per read); a 1080p
 * keyframe fits in one or two reads.
 */
const READ_BUFFER_BYTES = 256 * 1024;

/** libcamera takes a moment to open the sensor: the first frame gets longer than the stall timeout. */
const FIRST_FRAME_TIMEOUT_MS = 10_000;

/**
 * Keeps the camera process alive, independently of the network: it is started, restarted with
 * exponential backoff when it exits, and killed and restarted when it stalls (no frame for
 * ~3 s: a wedged libcamera pipeline is a known failure mode). Only stop() ends it.
 *
 * The restart, backoff and stall policy is SupervisedProcess's, shared with the audio source, so
 * both capture processes recover the same way; what is left here is the camera's own part: which
 * command and arguments, stdout read as H.264 access units, and what counts in the agent's stats.
 */
export class CameraSupervisor {
  private readonly supervisor: SupervisedProcess;

  constructor(options: CameraSupervisorOptions) {
    const { log, stats, tuning } = options;
    this.supervisor = new SupervisedProcess({
      name: 'camera',
      // The command is looked up before the arguments are built: with no camera there is nothing to build them for.
      resolve: () => {
        const command = options.resolveCommand();
        if (command === null) return { error: 'no camera command found: install rpicam-apps (rpicam-vid) or pass --camera-command' };
        return { command, args: options.args() };
      },
      env: options.env,
      log,
      restartMinMs: tuning.cameraRestartMinMs,
      restartMaxMs: tuning.cameraRestartMaxMs,
      stallTimeoutMs: tuning.stallTimeoutMs,
      firstOutputTimeoutMs: FIRST_FRAME_TIMEOUT_MS,
      missingOutput: 'no frame',
      readBufferBytes: READ_BUFFER_BYTES,
      createSink: (run) =>
        new FrameReader({
          reusedChunks: true,
          clock: options.clock,
          stats,
          flushDelayMs: tuning.flushDelayMs,
          drainFlush: tuning.drainFlush !== 0,
          onDrainFlushOff: () =>
            log.warn(
              { flushDelayMs: tuning.flushDelayMs },
              'the camera paused in the middle of a frame: the frame was dropped up to the next keyframe, and frames now wait for a short pipe silence until the camera restarts',
            ),
          onFrame: (frame) => {
            if (this.supervisor.output(run)) options.onFrame(frame);
          },
          onOversize: (error: ProtocolError) => log.warn({ err: error.message }, 'camera frame over the size cap dropped'),
        }),
      onStatus: options.onStatus,
      onError: (message) => {
        stats.lastError = message;
      },
      onRestart: () => {
        stats.cameraRestarts += 1;
      },
      // rpicam-vid prints one "#123 (30.00 fps) exp ..." line per frame at higher verbosity: debug only.
      quietStderr: (line) => /^#\d+ \(/.test(line),
    });
  }

  get status(): CameraProcessStatus {
    return this.supervisor.status;
  }

  get running(): boolean {
    return this.supervisor.running;
  }

  /** the command last run, for hello and check */
  get command(): string | null {
    return this.supervisor.command;
  }

  /** Idempotent. */
  start(): void {
    this.supervisor.start();
  }

  /** Resolves once the process has exited (or at once if none runs). */
  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  /** New settings: restart now with fresh arguments (not counted as a failure). */
  restart(reason: string): void {
    this.supervisor.restart(reason);
  }
}
