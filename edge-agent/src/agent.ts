import { Track, sameSettings, type AudioFormat, type CameraSettings, type RelayToAgentMessage } from '@picam/protocol';
import { AudioSource } from './audio.ts';
import { BackfillPace } from './backfill-pace.ts';
import { BackfillRing } from './backfill-ring.ts';
import { BackfillSender } from './backfill-sender.ts';
import { BackfillSpill, SpilledRing, onRootFilesystem } from './backfill-spill.ts';
import { buildCameraArgs } from './camera-args.ts';
import { findCameraCommand } from './camera-command.ts';
import { CameraSupervisor } from './camera-supervisor.ts';
import { CaptureClock } from './clock.ts';
import { effectiveSettings, readConfigFile, writeConfigFile, type RunConfig } from './config.ts';
import type { CapturedFrame } from './frame-reader.ts';
import type { Logger } from './logger.ts';
import { isPi5Family, readBoardModel } from './pi-model.ts';
import { agentSocketUrl } from './relay-url.ts';
import { AgentStats } from './stats.ts';
import { Uplink } from './uplink.ts';
import { AGENT_VERSION } from './version.ts';
import { VideoFormatTracker } from './video-format.ts';

/**
 * `picam-agent run`: wires the camera supervisor to the uplink and applies what the relay asks
 * for (settings, demand). The camera never depends on the connection: losing the relay drops
 * frames, it does not stop the camera (except on-demand cameras, which nobody can watch then).
 */
export class Agent {
  readonly stats = new AgentStats();
  readonly camera: CameraSupervisor;
  readonly uplink: Uplink;
  /** null when audio is off */
  readonly audio: AudioSource | null;
  private readonly config: RunConfig;
  private readonly log: Logger;
  private readonly format = new VideoFormatTracker();
  private readonly boardModel: string | null;
  /** what the relay (or the config file) wants; pinned flags are laid over it */
  private settings: CameraSettings;
  private viewers = 0;
  private cameraWanted = false;
  private graceTimer: NodeJS.Timeout | undefined;
  /** the most recent frames and the run that sends them after a reconnect; null with --backfill-mb 0 */
  readonly backfill: { ring: BackfillRing; spill: BackfillSpill | null; sender: BackfillSender } | null;
  /** What the audio source's ADTS headers say: goes into hello.audio (null: no audio, or not known yet). */
  audioFormat: AudioFormat | null = null;

  constructor(config: RunConfig, log: Logger, env: NodeJS.ProcessEnv = process.env) {
    this.config = config;
    this.log = log;
    this.settings = config.settings;
    this.boardModel = config.boardModel ?? readBoardModel();
    const pi5 = isPi5Family(this.boardModel);
    const clock = new CaptureClock();
    this.camera = new CameraSupervisor({
      resolveCommand: () => findCameraCommand(config.cameraCommand, env.PATH ?? ''),
      args: () => buildCameraArgs(this.effective, config.extras, pi5),
      env,
      log: log.child({ part: 'camera' }),
      stats: this.stats,
      clock,
      tuning: config.tuning,
      onFrame: (frame) => this.onVideoFrame(frame),
      onStatus: (status) => log.debug({ status }, 'camera status'),
    });
    // Audio shares the camera's clock (both tracks' stamps on one timeline) and nothing else:
    // its failures are retried on their own and never touch the camera or the uplink.
    this.audio = config.audio.enabled
      ? new AudioSource({
          config: config.audio,
          env,
          log: log.child({ part: 'audio' }),
          clock,
          tuning: config.tuning,
          onFrame: (frame) => this.sendAudioFrame(frame.captureTimeUs, frame.data),
          onFormat: (format) => {
            this.audioFormat = format;
            // Before this frame goes out, so the relay tells viewers the format first.
            this.uplink.resendHello();
          },
          onError: (message) => {
            this.stats.lastError = `audio: ${message}`;
          },
          onStatus: (status) => log.debug({ status }, 'audio status'),
        })
      : null;
    this.uplink = new Uplink({
      url: agentSocketUrl(config.relay),
      credential: config.credential,
      log: log.child({ part: 'uplink' }),
      stats: this.stats,
      tuning: config.tuning,
      hello: () => ({
        type: 'hello',
        agentVersion: AGENT_VERSION,
        settings: this.effective,
        video: this.format.current,
        audio: this.audioFormat,
        ...(this.boardModel === null ? {} : { model: this.boardModel.slice(0, 128) }),
        ...(this.camera.command === null ? {} : { cameraCommand: this.camera.command.slice(0, 256) }),
      }),
      statsMessage: () => this.stats.toMessage(this.camera.status, this.audio?.status ?? null, this.uplink.queueBytes),
      onMessage: (message) => this.onRelayMessage(message),
      onConnectionChange: (connected) => {
        if (connected) return;
        // Nobody can watch through a relay we are not connected to.
        this.setViewers(0);
        this.backfill?.sender.cancel();
      },
    });
    const { tuning } = config;
    if (config.backfill.mb > 0) {
      const { dir, dirMb } = config.backfill;
      const spill = dir === null || dirMb === 0 ? null : new BackfillSpill({ dir, maxBytes: dirMb * 1024 * 1024, log: log.child({ part: 'backfill' }) });
      if (dir !== null && onRootFilesystem(dir)) {
        log.warn({ dir }, '--backfill-dir is on the root filesystem (on a Pi, the SD card, which a constant write wears out): use a USB disk');
      }
      const ring = new BackfillRing(config.backfill.mb * 1024 * 1024, spill === null ? {} : { onEvict: (gop) => spill.keep(gop) });
      const sender = new BackfillSender({
        ring: spill === null ? ring : new SpilledRing(ring, spill),
        link: this.uplink,
        pace: new BackfillPace({ multiple: tuning.backfillRateMultiple, minBytesPerSecond: tuning.backfillMinBytesPerSecond }),
        log: log.child({ part: 'backfill' }),
        maxQueuedBytes: tuning.backfillQueueBytes,
        delayTargetMs: tuning.backfillDelayTargetMs,
      });
      this.backfill = { ring, spill, sender };
    } else {
      this.backfill = null;
    }
    if (pi5) log.info({ model: this.boardModel }, 'Pi 5: encoding with libav in low-latency mode');
  }

  get effective(): CameraSettings {
    return effectiveSettings(this.settings, this.config.pinned);
  }

  start(): void {
    this.log.info(
      { relay: this.config.relay, settings: this.effective, pinned: Object.keys(this.config.pinned), model: this.boardModel, backfill: this.config.backfill },
      'picam-agent starting',
    );
    if (this.audio !== null) this.log.info({ audio: { ...this.config.audio } }, 'audio enabled');
    this.uplink.start();
    this.reconcileCamera();
  }

  async stop(): Promise<void> {
    clearTimeout(this.graceTimer);
    this.cameraWanted = false;
    this.backfill?.sender.cancel();
    await Promise.all([this.camera.stop(), this.audio?.stop(), this.uplink.stop()]);
    this.backfill?.spill?.close();
  }

  /** Track 2: one ADTS frame (each decodes on its own: no keyframe flag, dropped one by one when congested). */
  sendAudioFrame(captureTimeUs: number, adtsFrame: Uint8Array): boolean {
    this.keep(Track.Audio, false, captureTimeUs, adtsFrame);
    return this.uplink.sendFrame(Track.Audio, false, captureTimeUs, adtsFrame);
  }

  /** Every captured frame goes into the backfill ring, sent live or not: the link may be failing unnoticed. */
  private keep(track: Track, keyframe: boolean, captureTimeUs: number, data: Uint8Array): void {
    if (this.backfill === null) return;
    this.backfill.ring.append(track, keyframe, captureTimeUs, data);
    this.backfill.sender.noteLive(data.byteLength);
  }

  private onVideoFrame(frame: CapturedFrame): void {
    if (frame.keyframe) {
      const changed = this.format.update(frame.data, this.effective.framerate);
      if (changed !== null) {
        this.log.info({ video: changed }, 'video format');
        // Before this keyframe goes out, so the relay knows the new format when it arrives.
        this.uplink.resendHello();
      }
    }
    this.keep(Track.Video, frame.keyframe, frame.captureTimeUs, frame.data);
    this.uplink.sendFrame(Track.Video, frame.keyframe, frame.captureTimeUs, frame.data);
  }

  private onRelayMessage(message: RelayToAgentMessage): void {
    if (message.type === 'settings') this.applySettings(message.settings);
    else if (message.type === 'demand') this.setViewers(message.viewers);
    else if (this.backfill !== null) this.backfill.sender.start(message);
    // Nothing kept (--backfill-mb 0): say so at once, so the relay stops waiting.
    else this.uplink.sendBackfillDone({ type: 'backfill-done', fromUs: message.fromUs, toUs: message.toUs, frames: 0, complete: false });
  }

  private applySettings(next: CameraSettings): void {
    const before = this.effective;
    const changedFromRelay = !sameSettings(next, this.settings);
    this.settings = next;
    if (changedFromRelay) this.persistSettings(next);
    const after = this.effective;
    const overridden = Object.keys(this.config.pinned).filter((k) => next[k as keyof CameraSettings] !== after[k as keyof CameraSettings]);
    if (overridden.length > 0) this.log.warn({ overridden }, 'command-line flags override these settings from the relay');
    if (sameSettings({ ...before, onDemand: false }, { ...after, onDemand: false })) {
      if (before.onDemand !== after.onDemand) this.reconcileCamera();
      return;
    }
    this.log.info({ settings: after }, 'new camera settings from the relay');
    if (before.onDemand !== after.onDemand) this.reconcileCamera();
    this.camera.restart('settings changed');
  }

  /** Next start (even offline, even after a reboot) uses the relay's latest settings. */
  private persistSettings(settings: CameraSettings): void {
    if (!this.config.configFileExists) return;
    try {
      const file = readConfigFile(this.config.configPath);
      if (file === null) return;
      writeConfigFile(this.config.configPath, { ...file, settings });
    } catch (error) {
      this.log.warn({ err: (error as Error).message, path: this.config.configPath }, 'could not save the new settings');
    }
  }

  private setViewers(viewers: number): void {
    if (viewers === this.viewers) return;
    this.viewers = viewers;
    if (this.effective.onDemand) this.log.info({ viewers }, 'demand');
    this.reconcileCamera();
  }

  /**
   * Always-on cameras just run. On-demand cameras run while someone watches, and keep running
   * for a grace period after the last viewer leaves, so a page reload does not cost a camera start.
   */
  private reconcileCamera(): void {
    const wanted = !this.effective.onDemand || this.viewers > 0;
    if (wanted) {
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
      if (!this.cameraWanted) {
        this.cameraWanted = true;
        this.camera.start();
        this.audio?.start();
      }
      return;
    }
    if (!this.cameraWanted || this.graceTimer !== undefined) return;
    const graceMs = this.config.tuning.demandGraceMs;
    this.log.info({ graceMs }, 'no viewers: stopping the camera after the grace period');
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      this.cameraWanted = false;
      void this.camera.stop();
      void this.audio?.stop();
    }, graceMs);
  }
}
