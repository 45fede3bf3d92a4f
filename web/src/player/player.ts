import { OfflineReason, type InitMessage } from '@picam/protocol';
import { h, icon } from '../dom.ts';
import { preferredPath, type PathPreference } from './path-choice.ts';
import { PlayerController, type PlayerControllerOptions, type PlayerQuality } from './player-controller.ts';
import type { PlayerFullStats } from './player-stats.ts';
import type { PlayerState } from './player-state.ts';
import type { Renderer } from './renderer.ts';
import { StatsOverlay } from './stats-overlay.ts';
import { exposePlayerToTests } from './test-hook.ts';
import { ScreenWakeLock } from './wake-lock.ts';

/**
 * The one player, used by the camera grid (a tile each), the camera page and the share viewer: the
 * view (picture, state overlay, controls: mute, stats, decoder switch, snapshot, fullscreen) over a
 * headless PlayerController (player-controller.ts), which connects, decodes and keeps the figures.
 * Pages learn about the stream through the callbacks; tests and benchmarks read `stats()` through
 * the page's test hook (test-hook.ts).
 */

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

/** offline because this relay lost its link to the camera's relay (a cluster), not because the camera went */
const RECONNECTING_TEXT = 'Connection to the camera lost, reconnecting…';

export interface PlayerOptions extends Omit<PlayerControllerOptions, 'path'> {
  /** camera name, for snapshot file names and labels */
  name?: string;
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
}

export class Player {
  readonly root: HTMLElement;
  private readonly options: PlayerOptions;
  private readonly controller: PlayerController;
  private readonly stage: HTMLElement;
  private readonly overlay: HTMLElement;
  private readonly overlayText: HTMLElement;
  private readonly statsOverlay: StatsOverlay;
  private readonly muteButton: HTMLButtonElement;
  private readonly pathButton: HTMLButtonElement;
  private readonly wakeLock: ScreenWakeLock | null;
  private readonly unexpose: () => void;
  /** the picture's <canvas> or <video>, while a decoding path runs */
  private media: Renderer['element'] | null = null;

  constructor(container: HTMLElement, options: PlayerOptions) {
    this.options = options;
    this.controller = new PlayerController(
      { ...options, path: options.path ?? preferredPath() },
      {
        onState: (state, detail) => {
          this.showState(state, detail);
          options.onState?.(state, detail);
        },
        onInit: (init) => {
          this.muteButton.hidden = init.audio === null;
          options.onInit?.(init);
        },
        onExpiring: (expiresAt) => options.onExpiring?.(expiresAt),
        onRenderer: (renderer) => this.showRenderer(renderer),
      },
    );
    this.overlayText = h('span', { class: 'player-overlay-text', testid: 'player-overlay-text' });
    this.overlay = h('div', { class: 'player-overlay', testid: 'player-overlay' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), this.overlayText);
    this.statsOverlay = new StatsOverlay(() => this.controller.stats());
    this.stage = h('div', { class: 'player-stage' }, this.overlay, this.statsOverlay.el);

    const button = (label: string | SVGSVGElement, testid: string, title: string, onClick: () => void) =>
      h('button', { type: 'button', class: 'player-button', testid, title, 'aria-label': title, onclick: onClick }, label);
    this.muteButton = button('', 'player-mute', 'Mute', () => this.setMuted(!this.controller.isMuted));
    this.muteButton.hidden = true;
    this.showMuted();
    this.pathButton = button('', 'player-path', 'Switch decoder (WebCodecs / MSE)', () =>
      this.setPath(this.controller.path === 'mse' ? 'webcodecs' : 'mse'),
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
    this.root.dataset.quality = options.quality?.keyframesOnly ? 'keyframes' : 'full';
    container.appendChild(this.root);

    this.wakeLock = options.keepScreenOn ? new ScreenWakeLock() : null;
    this.unexpose = exposePlayerToTests(this);
    this.showState('connecting', '');
    this.controller.start();
  }

  stats(): PlayerFullStats {
    return this.controller.stats();
  }

  /** Off screen (a grid tile scrolled away) the player pauses as in a hidden page; back in view it plays from the live edge. */
  setInView(inView: boolean): void {
    this.controller.setInView(inView);
  }

  /** Keyframes only (a grid tile that is not the focus) or full rate. */
  setQuality(quality: PlayerQuality): void {
    this.root.dataset.quality = quality.keyframesOnly ? 'keyframes' : 'full';
    this.controller.setQuality(quality);
  }

  /** Switch decoding path (and remember the choice); reconnects so the new path starts with the GOP. */
  setPath(path: PathPreference): void {
    this.controller.setPath(path);
  }

  /** Sound on/off. Unmuting must happen in a user gesture (the click): browsers start audio only then. */
  setMuted(muted: boolean): void {
    this.controller.setMuted(muted);
    this.showMuted();
  }

  snapshot(): Promise<Blob | null> {
    return this.controller.snapshot();
  }

  destroy(): void {
    this.controller.destroy();
    this.wakeLock?.destroy();
    this.statsOverlay.destroy();
    this.root.remove();
    this.unexpose();
  }

  private showState(state: PlayerState, detail: string): void {
    this.root.dataset.state = state;
    this.overlay.hidden = state === 'live';
    this.overlay.dataset.state = state;
    this.overlayText.textContent = state === 'connecting' && detail ? detail : state === 'offline' && detail === OfflineReason.Reconnecting ? RECONNECTING_TEXT : STATE_TEXT[state];
    this.wakeLock?.set(state === 'live');
  }

  private showRenderer(renderer: Renderer | null): void {
    this.media?.remove();
    this.media = renderer?.element ?? null;
    if (!renderer) {
      delete this.root.dataset.path;
      return;
    }
    this.root.dataset.path = renderer.path;
    this.pathButton.textContent = renderer.path === 'mse' ? 'MSE' : 'WebCodecs';
    this.stage.insertBefore(renderer.element, this.stage.firstChild);
  }

  private showMuted(): void {
    const muted = this.controller.isMuted;
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
    (this.media as (HTMLVideoElement & { webkitEnterFullscreen?: () => void }) | null)?.webkitEnterFullscreen?.();
  }
}
