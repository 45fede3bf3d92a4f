import type { InitMessage, RelayToViewerMessage } from '@picam/protocol';
import { CloseCode } from '@picam/protocol';
import { h, icon } from '../dom.ts';
import { ClockOffset } from './clock.ts';
import { LiveAudio, NO_LIVE_AUDIO_STATS, webCodecsAudioSupported, type LiveAudioStats } from './live-audio.ts';
import { LiveConnection } from './connection.ts';
import { videoFrameHold } from './keyframe-hold.ts';
import { MseRenderer, mseAvailable } from './mse-renderer.ts';
import type { IncomingFrame, PlayerPath, PresentedFrame, Renderer } from './renderer.ts';
import { RecentRate } from './recent-rate.ts';
import { StatsOverlay } from './stats-overlay.ts';
import { BackgroundPause } from './visibility.ts';
import { ScreenWakeLock } from './wake-lock.ts';
import { WebCodecsRenderer } from './webcodecs-renderer.ts';

/**
 * The one player, used by the camera grid (a tile each), the camera page and the share viewer.
 *
 * It owns the live WebSocket (reconnecting with backoff unless the relay said "never": link expired,
 * forbidden, no such camera, logged out), picks a decoding path per stream (WebCodecs when the
 * browser can decode the codec, else jmuxer/MSE; `?player=mse` or the toggle forces MSE) and shows
 * the state as an overlay. Pages learn about the stream through the callbacks; tests and benchmarks
 * read `window.__picamPlayers[i].stats()`.
 */

export type PlayerState =
  | 'connecting'
  | 'waiting'
  | 'live'
  | 'stalled'
  | 'offline'
  /** the page is in the background: no socket, no decoding (visibility.ts) */
  | 'paused'
  | 'expired'
  | 'forbidden'
  | 'not-found'
  | 'unauthenticated'
  | 'unsupported';

/** States the player never leaves by itself. */
const FINAL_STATES = new Set<PlayerState>(['expired', 'forbidden', 'not-found', 'unauthenticated', 'unsupported']);

const STATE_TEXT: Record<PlayerState, string> = {
  connecting: 'Connecting…',
  waiting: 'Waiting for video…',
  live: '',
  stalled: 'No picture from the camera for a few seconds…',
  offline: 'Camera offline',
  paused: 'Paused while the page is in the background',
  expired: 'This link has expired',
  forbidden: 'You do not have access to this camera',
  'not-found': 'This camera does not exist',
  unauthenticated: 'Your session has ended. Log in again.',
  unsupported: 'This browser cannot play the video (it has neither WebCodecs nor Media Source Extensions).',
};

export type PathPreference = 'auto' | PlayerPath;

export interface PlayerOptions {
  cameraId: string;
  /** camera name, for snapshot file names and labels */
  name?: string;
  /** a share (or session) token, sent as the `picam.token.<token>` subprotocol; else the session cookie */
  token?: string;
  /** default: `?player=` in the URL, else the stored choice, else 'auto' */
  path?: PathPreference;
  /** a small tile: fewer controls */
  compact?: boolean;
  /** keep the screen on while the picture is live (the camera and share pages; wake-lock.ts) */
  keepScreenOn?: boolean;
  onState?(state: PlayerState, detail: string): void;
  onInit?(init: InitMessage): void;
  /** share links: when the relay will cut this viewer off (ms since the epoch) */
  onExpiring?(expiresAt: number): void;
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
}

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

declare global {
  interface Window {
    __picamPlayers?: Player[];
  }
}

const PATH_STORAGE_KEY = 'picam.player.path';
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const STALL_MS = 3000;

function preferredPath(): PathPreference {
  const fromUrl = new URLSearchParams(location.search).get('player');
  if (fromUrl === 'mse' || fromUrl === 'webcodecs' || fromUrl === 'auto') return fromUrl;
  try {
    const stored = localStorage.getItem(PATH_STORAGE_KEY);
    if (stored === 'mse' || stored === 'webcodecs') return stored;
  } catch {
    // storage disabled
  }
  return 'auto';
}

function webCodecsAvailable(): boolean {
  return typeof VideoDecoder !== 'undefined' && typeof EncodedVideoChunk !== 'undefined';
}

export class Player {
  readonly root: HTMLElement;
  private readonly options: PlayerOptions;
  private readonly stage: HTMLElement;
  private readonly overlay: HTMLElement;
  private readonly overlayText: HTMLElement;
  private readonly statsOverlay: StatsOverlay;
  private readonly muteButton: HTMLButtonElement;
  private readonly pathButton: HTMLButtonElement;

  private pathPreference: PathPreference;
  private connection: LiveConnection | null = null;
  private renderer: Renderer | null = null;
  private choosing: Promise<void> | null = null;
  /** frames that arrived while the path was being chosen, from the newest keyframe on */
  private readonly held = videoFrameHold(600);
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
  private readonly watchdog: number;
  private lastFrameAt = 0;
  private presentedThisConnection = false;
  private destroyed = false;

  private framesReceived = 0;
  private lastReceivedSequence = -1;
  private lastPresented: PresentedFrame | null = null;
  private latencyMs: number | null = null;
  private readonly clock = new ClockOffset();
  private readonly shownRate = new RecentRate();
  private readonly byteRate = new RecentRate();
  private readonly background: BackgroundPause;
  private readonly wakeLock: ScreenWakeLock | null;

  constructor(container: HTMLElement, options: PlayerOptions) {
    this.options = options;
    this.pathPreference = options.path ?? preferredPath();
    this.overlayText = h('span', { class: 'player-overlay-text', testid: 'player-overlay-text' });
    this.overlay = h('div', { class: 'player-overlay', testid: 'player-overlay' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), this.overlayText);
    this.statsOverlay = new StatsOverlay();
    this.stage = h('div', { class: 'player-stage' }, this.overlay, this.statsOverlay.el);

    const button = (label: string | SVGSVGElement, testid: string, title: string, onClick: () => void) =>
      h('button', { type: 'button', class: 'player-button', testid, title, 'aria-label': title, onclick: onClick }, label);
    this.muteButton = button('', 'player-mute', 'Mute', () => this.setMuted(!this.muted));
    this.muteButton.hidden = true;
    this.showMuted();
    this.pathButton = button('', 'player-path', 'Switch decoder (WebCodecs / MSE)', () =>
      this.setPath(this.renderer?.path === 'mse' ? 'webcodecs' : 'mse'),
    );
    const controls = h(
      'div',
      { class: 'player-controls' },
      h('span', { class: 'live-badge', testid: 'player-live-badge' }, 'LIVE'),
      h('span', { class: 'spacer' }),
      this.muteButton,
      button('Stats', 'player-stats-toggle', 'Show statistics', () => this.statsOverlay.toggle()),
      options.compact ? null : this.pathButton,
      options.compact ? null : button('Snapshot', 'player-snapshot', 'Save a PNG of the current picture', () => void this.saveSnapshot()),
      button(icon(['M4 9V4h5', 'M20 9V4h-5', 'M4 15v5h5', 'M20 15v5h-5'], 'Fullscreen'), 'player-fullscreen', 'Fullscreen', () => this.toggleFullscreen()),
    );
    this.root = h('div', { class: options.compact ? 'player compact' : 'player', testid: 'player' }, this.stage, controls);
    this.root.dataset.cameraId = options.cameraId;
    container.appendChild(this.root);

    this.background = new BackgroundPause({
      pause: () => this.pauseInBackground(),
      resume: () => this.restartConnection(),
      catchUp: () => this.renderer?.jumpToLive(),
      // Sound on: the user is listening, as with any audio player in a background tab.
      keepRunning: () => !this.muted && this.init?.audio != null && this.state === 'live',
    });
    this.wakeLock = options.keepScreenOn ? new ScreenWakeLock() : null;
    this.watchdog = window.setInterval(() => this.tick(), 500);
    (window.__picamPlayers ??= []).push(this);
    this.setState('connecting', '');
    this.connect();
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

  /** The newest frame on screen, for benchmarks (capture time vs shown time). */
  lastPresentedFrame(): PresentedFrame | null {
    return this.lastPresented;
  }

  getState(): PlayerState {
    return this.state;
  }

  /** Switch decoding path (and remember the choice); reconnects so the new path starts with the GOP. */
  setPath(path: PathPreference): void {
    this.pathPreference = path;
    try {
      if (path === 'auto') localStorage.removeItem(PATH_STORAGE_KEY);
      else localStorage.setItem(PATH_STORAGE_KEY, path);
    } catch {
      // storage disabled: the choice lasts for this page
    }
    this.failedPath = null;
    this.dropRenderer();
    this.restartConnection();
  }

  /** Sound on/off. Unmuting must happen in a user gesture (the click): browsers start audio only then. */
  setMuted(muted: boolean): void {
    this.muted = muted;
    this.renderer?.setMuted(muted);
    this.audio?.setMuted(muted);
    this.showMuted();
  }

  private showMuted(): void {
    const muted = this.muted;
    const button = this.muteButton;
    button.replaceChildren(
      muted
        ? icon(['M11 5 6 9H2v6h4l5 4V5z', 'M23 9l-6 6', 'M17 9l6 6'], 'Sound off')
        : icon(['M11 5 6 9H2v6h4l5 4V5z', 'M15.5 8.5a5 5 0 0 1 0 7', 'M19 5a10 10 0 0 1 0 14'], 'Sound on'),
    );
    // One fixed name with a pressed state (a toggle): "Mute, pressed" = no sound.
    button.setAttribute('aria-pressed', String(muted));
    button.title = muted ? 'Sound is off: turn it on' : 'Sound is on: mute';
    button.dataset.muted = String(muted);
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
    this.wakeLock?.destroy();
    this.connection?.close();
    this.connection = null;
    this.dropRenderer();
    this.statsOverlay.destroy();
    this.root.remove();
    const list = window.__picamPlayers;
    if (list) {
      const i = list.indexOf(this);
      if (i >= 0) list.splice(i, 1);
    }
  }

  // ---- connection -------------------------------------------------------------------------------

  private connect(): void {
    if (this.destroyed || FINAL_STATES.has(this.state) || this.background.paused) return;
    this.presentedThisConnection = false;
    this.connection = new LiveConnection(this.options.cameraId, this.options.token, {
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
    });
  }

  /** Hidden (visibility.ts): the relay sees this viewer leave; nothing is received or decoded. */
  private pauseInBackground(): void {
    if (FINAL_STATES.has(this.state)) return;
    window.clearTimeout(this.reconnectTimer);
    this.connection?.close(1000, 'page in the background');
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
    if (!FINAL_STATES.has(this.state)) this.setState('connecting', '');
    this.connect();
  }

  private async onClose(code: number, reason: string, opened: boolean): Promise<void> {
    this.connection = null;
    this.renderer?.reset();
    this.audio?.reset();
    this.held.clear();
    if (this.destroyed) return;
    const final = this.finalStateFor(code);
    if (final) {
      this.setState(final, reason);
      return;
    }
    if ((!opened || code === CloseCode.Unauthenticated) && this.options.probe) {
      const probed = await this.options.probe().catch(() => null);
      if (this.destroyed) return;
      if (probed && FINAL_STATES.has(probed)) {
        this.setState(probed, '');
        return;
      }
    } else if (code === CloseCode.Unauthenticated) {
      this.setState('unauthenticated', reason);
      return;
    }
    // Hidden meanwhile: the return to the page reconnects.
    if (this.background.paused) return;
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

  private finalStateFor(code: number): PlayerState | null {
    switch (code) {
      case CloseCode.LinkExpired:
        return 'expired';
      case CloseCode.Forbidden:
        return 'forbidden';
      case CloseCode.NoSuchCamera:
        return 'not-found';
      default:
        return null;
    }
  }

  private onMessage(message: RelayToViewerMessage): void {
    switch (message.type) {
      case 'init':
        this.init = message;
        this.muteButton.hidden = message.audio === null;
        this.options.onInit?.(message);
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
        this.options.onExpiring?.(message.expiresAt);
        break;
    }
  }

  private onVideo(frame: IncomingFrame): void {
    this.framesReceived++;
    this.lastReceivedSequence = frame.header.sequence;
    this.lastFrameAt = performance.now();
    if (!frame.header.catchUp) this.clock.observe(frame.header.captureTimeUs, frame.arrivalEpochMs);
    if (this.renderer) {
      this.renderer.pushVideo(frame);
      return;
    }
    this.held.push(frame);
  }

  // ---- decoding path ----------------------------------------------------------------------------

  private async chooseRenderer(init: InitMessage): Promise<void> {
    if (this.choosing) return this.choosing;
    this.choosing = (async () => {
      this.audioViaWebCodecs = init.audio ? await webCodecsAudioSupported(init.audio) : false;
      if (this.destroyed || this.renderer) return;
      const path = this.pickPath(init.audio !== null && !this.audioViaWebCodecs);
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

  /** `audioNeedsMse`: the stream has sound that WebCodecs cannot decode here (no AudioDecoder). */
  private pickPath(audioNeedsMse: boolean): PlayerPath | null {
    const mse = mseAvailable() && this.failedPath !== 'mse';
    const webcodecs = webCodecsAvailable() && this.failedPath !== 'webcodecs';
    if (this.pathPreference === 'mse' && mse) return 'mse';
    // Sound matters more than the last few tens of ms: jmuxer 'both' plays audio in sync itself.
    if (audioNeedsMse && this.pathPreference === 'auto' && mse && (this.options.mseAudio ?? true)) return 'mse';
    // WebCodecs is chosen without asking isConfigSupported first (see confirmWebCodecs).
    if (webcodecs) return 'webcodecs';
    return mse ? 'mse' : null;
  }

  /**
   * Asked alongside, once the WebCodecs renderer is running: waiting for the answer before the first
   * frame could be decoded cost the first picture 10-35 ms on a busy page (bench/README.md, "First
   * picture"). A codec it turns down moves the player to MSE, as any decoder failure does.
   */
  private async confirmWebCodecs(codec: string): Promise<void> {
    let supported = false;
    try {
      supported = (await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true })).supported === true;
    } catch {
      // a codec string it cannot even parse
    }
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
    this.root.dataset.path = path;
    this.pathButton.textContent = path === 'mse' ? 'MSE' : 'WebCodecs';
    this.stage.insertBefore(renderer.element, this.stage.firstChild);
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
    this.renderer?.destroy();
    this.renderer?.element.remove();
    this.renderer = null;
    delete this.root.dataset.path;
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
    if (this.state !== 'live' && !FINAL_STATES.has(this.state) && this.state !== 'offline' && this.state !== 'paused') this.setState('live', '');
  }

  // ---- UI ---------------------------------------------------------------------------------------

  private setState(state: PlayerState, detail: string): void {
    const changed = state !== this.state || detail !== this.stateDetail;
    this.state = state;
    this.stateDetail = detail;
    this.root.dataset.state = state;
    this.overlay.hidden = state === 'live';
    this.overlay.dataset.state = state;
    const text = STATE_TEXT[state];
    this.overlayText.textContent = state === 'connecting' && detail ? detail : text;
    this.wakeLock?.set(state === 'live');
    if (changed) this.options.onState?.(state, detail);
  }

  private tick(): void {
    if (this.state === 'live' && performance.now() - this.lastFrameAt > STALL_MS) this.setState('stalled', '');
    if (this.statsOverlay.visible) this.statsOverlay.update(this.stats());
  }

  private async saveSnapshot(): Promise<void> {
    const blob = await this.snapshot();
    if (!blob) return;
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const name = (this.options.name ?? this.options.cameraId).replace(/[^\w.-]+/g, '_');
    const a = h('a', { href: url, download: `${name}-${stamp}.png` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  private toggleFullscreen(): void {
    if (document.fullscreenElement) {
      void document.exitFullscreen().catch(() => {});
      return;
    }
    if (this.stage.requestFullscreen) {
      void this.stage.requestFullscreen().catch(() => {});
      return;
    }
    // iPhone Safari: only a <video> can go fullscreen.
    const video = this.renderer?.element as (HTMLVideoElement & { webkitEnterFullscreen?: () => void }) | undefined;
    video?.webkitEnterFullscreen?.();
  }
}
