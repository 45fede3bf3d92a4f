import { isExecutable } from './camera-command.ts';
import type { AudioFormat, CameraProcessStatus } from '@picam/protocol';
import { resolveAudioCommand, type AudioConfig } from './audio-command.ts';
import { AudioReader, type CapturedAudioFrame } from './audio-reader.ts';
import type { CaptureClock } from './clock.ts';
import type { Tuning } from './config.ts';
import type { Logger } from './logger.ts';
import { SupervisedProcess } from './supervised-process.ts';

export interface AudioSourceOptions {
  config: AudioConfig;
  env?: NodeJS.ProcessEnv;
  log: Logger;
  /** the camera's clock: one clock for both tracks keeps them in sync */
  clock: CaptureClock;
  tuning: Pick<Tuning, 'cameraRestartMinMs' | 'cameraRestartMaxMs' | 'stallTimeoutMs'>;
  onFrame: (frame: CapturedAudioFrame) => void;
  /** the format became known or changed: announce it (hello.audio) */
  onFormat: (format: AudioFormat) => void;
  onError?: (message: string) => void;
  onStatus?: (status: CameraProcessStatus) => void;
}

/** ALSA and the encoder need a moment to open the device and prime. */
const FIRST_FRAME_TIMEOUT_MS = 10_000;

/**
 * The microphone: an encoder process (ffmpeg on ALSA by default, or `--audio-command` through
 * `sh -c`) writing ADTS AAC-LC to stdout, supervised like the camera (restart with backoff, kill
 * on stall), read frame by frame and stamped on the camera's clock.
 *
 * It is independent of the camera and of the uplink: whatever goes wrong here (no ffmpeg, no
 * sound card, an encoder that dies or writes garbage) is logged, shown in `stats.audio`, and
 * retried; the video never notices. Nothing thrown on the audio path reaches the camera's.
 */
export class AudioSource {
  readonly supervisor: SupervisedProcess;
  private readonly options: AudioSourceOptions;
  private formatValue: AudioFormat | null = null;

  constructor(options: AudioSourceOptions) {
    this.options = options;
    const { config, log, tuning } = options;
    const env = options.env ?? process.env;
    this.supervisor = new SupervisedProcess({
      name: 'audio',
      resolve: () => resolveAudioCommand(config, env.PATH ?? '', isExecutable),
      env,
      log,
      restartMinMs: tuning.cameraRestartMinMs,
      restartMaxMs: tuning.cameraRestartMaxMs,
      stallTimeoutMs: tuning.stallTimeoutMs,
      firstOutputTimeoutMs: FIRST_FRAME_TIMEOUT_MS,
      createSink: (run) =>
        new AudioReader({
          clock: options.clock,
          onFormat: (format) => this.setFormat(format),
          onFrame: (frame) => {
            if (!this.supervisor.output(run)) return;
            try {
              options.onFrame(frame);
            } catch (error) {
              log.error({ err: (error as Error).message }, 'audio frame handling failed');
            }
          },
          onError: (message) => log.warn({ err: message }, 'audio stream'),
        }),
      onStatus: (status) => options.onStatus?.(status),
      onError: (message) => options.onError?.(message),
    });
  }

  get status(): CameraProcessStatus {
    return this.supervisor.status;
  }

  start(): void {
    this.supervisor.start();
  }

  stop(): Promise<void> {
    return this.supervisor.stop();
  }

  private setFormat(format: AudioFormat): void {
    const old = this.formatValue;
    if (old !== null && old.sampleRate === format.sampleRate && old.channels === format.channels) return;
    this.formatValue = format;
    this.options.log.info({ audio: format }, 'audio format');
    const { sampleRate, channels } = this.options.config;
    if (this.options.config.command === undefined && (format.sampleRate !== sampleRate || format.channels !== channels)) {
      this.options.log.warn({ asked: { sampleRate, channels }, got: format }, 'the encoder does not produce the rate or channels asked for');
    }
    this.options.onFormat(format);
  }
}

