import type { InitMessage, QualityMessage, RelayToViewerMessage } from '@picam/protocol';
import { CloseCode } from '@picam/protocol';
import { ClockOffset } from './clock.ts';
import { LiveConnection, type ConnectionHandlers } from './connection.ts';
import { videoFrameHold } from './keyframe-hold.ts';
import { LiveAudio, NO_LIVE_AUDIO_STATS, webCodecsAudioSupported, type LiveAudioStats } from './live-audio.ts';
import type { PlayerFullStats } from './player-stats.ts';
import { MseRenderer } from './mse-renderer.ts';
import { choosePath, pathsAvailable, rememberPath, webCodecsDecodes, type PathPreference } from './path-choice.ts';
import { finalStateForClose, isFinalState, type PlayerState } from './player-state.ts';
import { RecentRate } from './recent-rate.ts';
import type { IncomingFrame, PlayerPath, PresentedFrame, Renderer } from './renderer.ts';
import { BackgroundPause } from './visibility.ts';
import { WebCodecsRenderer } from './webcodecs-renderer.ts';

/**
 * The player without its view: it owns the live WebSocket (reconnecting with backoff unless the
 * relay said "never": link expired, forbidden, no such camera, logged out), picks a decoding path per
 * stream (path-choice.ts) and moves to the other one when a path fails (a decoder error, a codec
 * turned down, pictures decoded but not painted: paint-pace.ts), plays the sound beside the WebCodecs
 * path (live-audio.ts), pauses in the background (visibility.ts) or off screen (`setInView`, a grid
 * tile scrolled away: the same pause), asks the relay for keyframes only or full rate (`setQuality`)
 * and keeps the figures `stats()` returns. The view (player.ts) shows what it reports through PlayerControllerEvents.
 */

export interface PlayerControllerOptions {
  cameraId: string;
  /** a share (or session) token, sent as the `picam.token.<token>` subprotocol; else the session cookie */
  token?: string;
  path: PathPreference;
  /**
   * run jmuxer in 'both' mode when the stream has audio (default true). With auto path choice, a
   * camera with audio in a browser whose WebCodecs cannot decode it (no AudioDecoder) uses MSE.
   */
  mseAudio?: boolean;
  /**
   * The upgrade was refused or the socket dropped before it opened: the browser hides the HTTP
   * status, so the page asks the API why (401 -> 'unauthenticated', 410 -> 'expired', ...).
   * Return null to keep retrying.
   */
  probe?(): Promise<PlayerState | null>;
  /** start with this instead of full rate (a grid tile: keyframes only) */
  quality?: PlayerQuality;
  /** start paused as off screen, until `setInView(true)` (a grid tile before its first intersection report) */
  offscreen?: boolean;
}

/** What the player asks the relay for (the `quality` message): keyframes only, at most one per interval, or everything. */
export type PlayerQuality = Omit<QualityMessage, 'type'>;

export interface PlayerControllerEvents {
  /** the state, or its detail, changed */
  onState(state: PlayerState, detail: string): void;
  onInit(init: InitMessage): void;
  /** share links: when the relay will cut this viewer off (ms since the epoch) */
  onExpiring(expiresAt: number): void;
  /** a decoding path started (its element goes on the stage) or stopped (null) */
  onRenderer(renderer: Renderer | null): void;
}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const STALL_MS = 3000;
/** Keyframes only, a picture comes every interval or GOP, whichever is longer: a stall is a longer silence. */
const KEYFRAMES_ONLY_STALL_MS = 12_000;
/**
 * NOTHING_SHOWN_MS for keyframes only: 8 s are four pictures at a tile's 2 s, and sixteen tiles
 * starting at once on a busy 2-core machine took that long for their first decode, then started over
 * (a new decoder each) and took longer still (bench/README.md "Grid").
 */
const KEYFRAMES_ONLY_NOTHING_SHOWN_MS = 30_000;
/** A renderer that takes frames this long without showing one (a MediaSource that never opened, seen
 * in WebKitGTK on a loaded machine) is made again, with a new connection. */
const NOTHING_SHOWN_MS = 8000;
const WATCHDOG_MS = 500;
/** Frames held while the path is chosen: a GOP of 20 s at 30 fps, far more than one takes. */
const MAX_HELD_FRAMES = 600;

export class PlayerController {
  private readonly options: PlayerControllerOptions;
  private readonly events: PlayerControllerEvents;
  private pathPreference: PathPreference;
  private connection: LiveConnection | null = null;
  private renderer: Renderer | null = null;
  private choosing: Promise<void> | null = null;
  /** frames that arrived while the path was being chosen, from the newest keyframe on */
  private readonly held = videoFrameHold(MAX_HELD_FRAMES);
  private init: InitMessage | null = null;
  private state: PlayerState = 'connecting';
  private stateDetail = '';
  private muted = true;
  /** sound on the WebCodecs path (null: no audio, or the MSE path plays it) */
  private audio: LiveAudio | null = null;
  /** this stream's audio can be decoded with WebCodecs (decided with the path) */
  private audioViaWebCodecs = false;
  /** the path a fatal error moved us away from: never chosen again for this player */
  private failedPath: PlayerPath | null = null;

  private attempt = 0;
  private reconnects = 0;
  private reconnectTimer = 0;
  private watchdog = 0;
  private lastFrameAt = 0;
  private presentedThisConnection = false;
  /** performance.now() when the current renderer was made, and of this connection's first frame (0: none yet) */
  private rendererSince = 0;
  private firstFrameAt = 0;
  private destroyed = false;
  /** paused because the view is off screen (setInView), not the page */
  private offscreen = false;
  private quality: PlayerQuality;

  private framesReceived = 0;
  private lastReceivedSequence = -1;
  private lastPresented: PresentedFrame | null = null;
  private latencyMs: number | null = null;
  private readonly clock = new ClockOffset();
  private readonly shownRate = new RecentRate();
  private readonly byteRate = new RecentRate();
  private readonly background: BackgroundPause;

  constructor(options: PlayerControllerOptions, events: PlayerControllerEvents) {
    this.options = options;
    this.events = events;
    this.pathPreference = options.path;
    this.quality = options.quality ?? { keyframesOnly: false };
    this.offscreen = options.offscreen ?? false;
    this.background = new BackgroundPause({
      pause: () => this.pause('page in the background'),
      resume: () => {
        if (!this.offscreen) this.restartConnection();
      },
      catchUp: () => this.renderer?.jumpToLive(),
      keepRunning: () => this.audible(),
    });
  }

  /**
   * A view scrolled off screen (a grid tile, IntersectionObserver) costs what a hidden page does:
   * nothing received, no decoder. Back in view, it reconnects at the live edge.
   */
  setInView(inView: boolean): void {
    if (this.destroyed) return;
    if (!inView) {
      if (this.offscreen || this.audible()) return;
      this.offscreen = true;
      if (!this.background.paused) this.pause('off screen');
      return;
    }
    if (!this.offscreen) return;
    this.offscreen = false;
    if (!this.background.paused) this.restartConnection();
  }

  /** Keyframes only (a grid tile that is not the focus) or full rate: asked of the relay at once. */
  setQuality(quality: PlayerQuality): void {
    this.quality = quality;
    this.connection?.setQuality(this.qualityMessage());
  }

  /** Sound on: the user is listening, as with any audio player in a background tab. */
  private audible(): boolean {
    return !this.muted && this.init?.audio != null && this.state === 'live';
  }

  private qualityMessage(): QualityMessage {
    return { type: 'quality', ...this.quality };
  }

  /** Connects; the view calls it once it can show what happens. */
  start(): void {
    this.watchdog = window.setInterval(() => this.checkStalled(), WATCHDOG_MS);
    if (this.offscreen) this.setState('paused', '');
    this.connect();
  }

  get path(): PlayerPath | null {
    return this.renderer?.path ?? null;
  }

  get isMuted(): boolean {
    return this.muted;
  }

  stats(): PlayerFullStats {
    const r = this.renderer?.stats();
    const audio: LiveAudioStats = this.audio?.stats() ?? {
      ...NO_LIVE_AUDIO_STATS,
      audioPlaying: this.renderer?.path === 'mse' && this.init?.audio != null && !this.muted && this.state === 'live',
    };
    return {
      ...audio,
      path: this.renderer?.path ?? null,
      state: this.state,
      framesReceived: this.framesReceived,
      framesDecoded: r?.framesDecoded ?? 0,
      framesShown: r?.framesShown ?? 0,
      framesDropped: r?.framesDropped ?? 0,
      lastFrameSequence: this.lastPresented?.sequence ?? -1,
      lastReceivedSequence: this.lastReceivedSequence,
      width: r?.width || this.init?.video.width || 0,
      height: r?.height || this.init?.video.height || 0,
      codec: this.init?.video.codec ?? null,
      fps: this.shownRate.perSecond(),
      bitrate: this.byteRate.perSecond() * 8,
      latencyMs: this.latencyMs,
      clockOffsetMs: this.clock.offsetMs(),
      decoderResets: r?.decoderResets ?? 0,
      reconnects: this.reconnects,
      queue: r?.queue ?? 0,
      lastError: r?.lastError ?? null,
      hasAudio: this.init?.audio != null,
      muted: this.muted,
      videoClockUs: this.lastPresented?.captureTimeUs ?? null,
    };
  }

  /** Switch decoding path (and remember the choice); reconnects so the new path starts with the GOP. */
  setPath(path: PathPreference): void {
    this.pathPreference = path;
    rememberPath(path);
    this.failedPath = null;
    this.dropRenderer();
    this.restartConnection();
  }

  /** Sound on/off. Unmuting must happen in a user gesture (the click): browsers start audio only then. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    this.renderer?.setMuted(muted);
    this.audio?.setMuted(muted);
  }

  async snapshot(): Promise<Blob | null> {
    return this.renderer ? this.renderer.snapshot() : null;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    window.clearTimeout(this.reconnectTimer);
    window.clearInterval(this.watchdog);
    this.background.destroy();
    this.connection?.close();
    this.connection = null;
    this.dropRenderer();
  }

  // ---- connection -------------------------------------------------------------------------------

  private connect(): void {
    if (this.destroyed || isFinalState(this.state) || this.background.paused || this.offscreen) return;
    this.presentedThisConnection = false;
    this.firstFrameAt = 0;
    const handlers: ConnectionHandlers = {
      onOpen: () => {
        if (this.state === 'connecting') this.setState('waiting', '');
      },
      onMessage: (message) => this.onMessage(message),
      onVideo: (frame) => this.onVideo(frame),
      onAudio: (frame) => {
        if (this.audio) this.audio.push(frame);
        else this.renderer?.pushAudio(frame);
      },
      onBytes: (bytes) => this.byteRate.add(bytes),
      onClose: (code, reason, opened) => void this.onClose(code, reason, opened),
    };
    // Keyframes only is asked for in the URL, so that the join is one keyframe and not a GOP; full
    // rate is the relay's default.
    const { keyframesOnly, minIntervalMs = 0 } = this.quality;
    this.connection = new LiveConnection(this.options.cameraId, this.options.token, handlers, keyframesOnly ? { minIntervalMs } : undefined);
  }

  /** Hidden (visibility.ts) or off screen: the relay sees this viewer leave; nothing is received or decoded. */
  private pause(why: string): void {
    if (isFinalState(this.state)) return;
    window.clearTimeout(this.reconnectTimer);
    this.connection?.close(1000, why);
    this.connection = null;
    this.renderer?.reset();
    this.audio?.reset();
    this.held.clear();
    this.setState('paused', '');
  }

  private restartConnection(): void {
    window.clearTimeout(this.reconnectTimer);
    this.connection?.close();
    this.connection = null;
    this.held.clear();
    if (!isFinalState(this.state)) this.setState('connecting', '');
    this.connect();
  }

  private async onClose(code: number, reason: string, opened: boolean): Promise<void> {
    this.connection = null;
    this.renderer?.reset();
    this.audio?.reset();
    this.held.clear();
    if (this.destroyed) return;
    const final = finalStateForClose(code);
    if (final) {
      this.setState(final, reason);
      return;
    }
    if ((!opened || code === CloseCode.Unauthenticated) && this.options.probe) {
      const probed = await this.options.probe().catch(() => null);
      if (this.destroyed) return;
      if (probed && isFinalState(probed)) {
        this.setState(probed, '');
        return;
      }
    } else if (code === CloseCode.Unauthenticated) {
      this.setState('unauthenticated', reason);
      return;
    }
    // Hidden or off screen meanwhile: the return reconnects.
    if (this.background.paused || this.offscreen) return;
    if (this.presentedThisConnection) this.attempt = 0;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
    this.attempt++;
    const delay = Math.round(base * (1 + Math.random() * 0.3));
    if (this.state !== 'offline') this.setState('connecting', `Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    this.reconnectTimer = window.setTimeout(() => {
      this.reconnects++;
      this.connect();
    }, delay);
  }

  private onMessage(message: RelayToViewerMessage): void {
    switch (message.type) {
      case 'init':
        this.init = message;
        this.events.onInit(message);
        if (this.renderer) {
          this.renderer.init(message);
          const audio = message.audio;
          if (audio && !this.audioViaWebCodecs) {
            // Sound appeared on a running stream: check once whether WebCodecs can decode it.
            void webCodecsAudioSupported(audio).then((ok) => {
              this.audioViaWebCodecs = ok;
              if (this.init === message) this.updateAudio(message);
            });
          } else this.updateAudio(message);
        } else void this.chooseRenderer(message);
        break;
      case 'state':
        if (message.state === 'offline') {
          this.renderer?.reset();
          this.setState('offline', message.reason ?? '');
        } else if (this.state === 'offline') {
          this.setState('waiting', '');
        }
        break;
      case 'expiring':
        this.events.onExpiring(message.expiresAt);
        break;
    }
  }

  private onVideo(frame: IncomingFrame): void {
    this.framesReceived++;
    this.lastReceivedSequence = frame.header.sequence;
    this.lastFrameAt = performance.now();
    if (this.firstFrameAt === 0) this.firstFrameAt = this.lastFrameAt;
    if (!frame.header.catchUp) this.clock.observe(frame.header.captureTimeUs, frame.arrivalEpochMs);
    if (this.renderer) this.renderer.pushVideo(frame);
    else this.held.push(frame);
  }

  // ---- decoding path ----------------------------------------------------------------------------

  private async chooseRenderer(init: InitMessage): Promise<void> {
    if (this.choosing) return this.choosing;
    this.choosing = (async () => {
      this.audioViaWebCodecs = init.audio ? await webCodecsAudioSupported(init.audio) : false;
      if (this.destroyed || this.renderer) return;
      const path = choosePath({
        available: pathsAvailable(),
        preference: this.pathPreference,
        failed: this.failedPath,
        audioNeedsMse: init.audio !== null && !this.audioViaWebCodecs,
        mseAudio: this.options.mseAudio ?? true,
      });
      if (!path) {
        this.setState('unsupported', `codec ${init.video.codec}`);
        return;
      }
      this.useRenderer(path, init);
      if (path === 'webcodecs') void this.confirmWebCodecs(init.video.codec);
    })().finally(() => {
      this.choosing = null;
    });
    return this.choosing;
  }

  /** A codec WebCodecs turns down (asked once its renderer is running) moves the player to MSE. */
  private async confirmWebCodecs(codec: string): Promise<void> {
    const supported = await webCodecsDecodes(codec);
    if (!supported && !this.destroyed && this.renderer?.path === 'webcodecs') this.onRendererFatal('webcodecs', `VideoDecoder does not support ${codec}`);
  }

  private useRenderer(path: PlayerPath, init: InitMessage): void {
    const events = {
      onPresent: (frame: PresentedFrame) => this.onPresent(frame),
      onFatal: (reason: string) => this.onRendererFatal(path, reason),
      onDecoded: (captureTimeUs: number, decodedPerfMs: number) => this.audio?.videoDecoded(captureTimeUs, decodedPerfMs),
    };
    const renderer: Renderer = path === 'webcodecs' ? new WebCodecsRenderer(events) : new MseRenderer(events, { audio: this.options.mseAudio ?? true });
    this.renderer = renderer;
    this.rendererSince = performance.now();
    this.events.onRenderer(renderer);
    renderer.setMuted(this.muted);
    renderer.init(init);
    this.updateAudio(init);
    for (const frame of this.held.take()) renderer.pushVideo(frame);
  }

  /** Sound on the WebCodecs path: a LiveAudio beside the renderer when the stream has decodable audio. */
  private updateAudio(init: InitMessage): void {
    const want = this.renderer?.path === 'webcodecs' && init.audio !== null && this.audioViaWebCodecs;
    if (want && !this.audio) {
      this.audio = new LiveAudio((clock) => this.renderer?.setPresentationClock?.(clock));
      // A context may only start in a gesture; re-applying "unmuted" here works when one already ran
      // (the AudioContext is created but stays suspended otherwise, until the next click).
      if (!this.muted) this.audio.setMuted(false);
    } else if (!want && this.audio) {
      this.audio.destroy();
      this.audio = null;
    }
  }

  private dropRenderer(): void {
    this.audio?.destroy();
    this.audio = null;
    if (!this.renderer) return;
    this.renderer.destroy();
    this.renderer = null;
    this.events.onRenderer(null);
  }

  private onRendererFatal(path: PlayerPath, reason: string): void {
    console.warn(`picam: ${path} path failed, switching: ${reason}`);
    this.failedPath = path;
    this.dropRenderer();
    this.restartConnection();
  }

  private onPresent(frame: PresentedFrame): void {
    this.lastPresented = frame;
    this.presentedThisConnection = true;
    this.shownRate.add(1);
    this.latencyMs = this.clock.latencyMs(frame.captureTimeUs, frame.shownEpochMs);
    if (this.state !== 'live' && !isFinalState(this.state) && this.state !== 'offline' && this.state !== 'paused') this.setState('live', '');
  }

  private setState(state: PlayerState, detail: string): void {
    if (state === this.state && detail === this.stateDetail) return;
    this.state = state;
    this.stateDetail = detail;
    this.events.onState(state, detail);
  }

  private checkStalled(): void {
    const now = performance.now();
    const takingFramesSince = Math.max(this.rendererSince, this.firstFrameAt);
    const nothingShownMs = this.quality.keyframesOnly ? KEYFRAMES_ONLY_NOTHING_SHOWN_MS : NOTHING_SHOWN_MS;
    const stallMs = this.quality.keyframesOnly ? KEYFRAMES_ONLY_STALL_MS : STALL_MS;
    if (this.renderer && !this.presentedThisConnection && this.firstFrameAt > 0 && now - takingFramesSince > nothingShownMs && now - this.lastFrameAt < stallMs) {
      console.warn(`picam: the ${this.renderer.path} path showed nothing in ${nothingShownMs / 1000} s of frames, starting it again`);
      this.dropRenderer();
      this.restartConnection();
      return;
    }
    if (this.state === 'live' && now - this.lastFrameAt > stallMs) this.setState('stalled', '');
  }
}
