import type { PlayerQuality } from './player-controller.ts';

/**
 * What each player of a grid costs (docs/ARCHITECTURE.md "Viewer quality"): a tile off screen
 * nothing (its player pauses as in a hidden page: no socket, no decoder), the focused tile (the one
 * last clicked or tapped) the full stream, every other tile in view a keyframe every
 * TILE_KEYFRAME_INTERVAL_MS and no sound.
 *
 * The interval: sixteen tiles must cost at most twice the bytes (and page CPU) of one camera in full
 * view. Sixteen keyframes per interval against 30 frames a second of one camera: with K the
 * keyframe/average-frame size ratio, 16 K / I <= 2 x 30 needs I >= 0.27 K seconds. The test clips
 * have K ~2 (1080p: 36 KB keyframes, 18 KB average, a 2 s GOP; 720p: 20 KB and 9 KB, a 1 s GOP),
 * a Pi camera's keyframes at a still scene run 5-8x its delta frames; 2 s covers K up to 7.5, and a
 * tile that changes every 2 s is still a live overview. bench/README.md "Grid" has the measurement.
 */
const TILE_KEYFRAME_INTERVAL_MS = 2000;

export const TILE_QUALITY: PlayerQuality = { keyframesOnly: true, minIntervalMs: TILE_KEYFRAME_INTERVAL_MS };
const FOCUS_QUALITY: PlayerQuality = { keyframesOnly: false };

/** The part of a Player a grid drives. */
export interface TilePlayer {
  setInView(inView: boolean): void;
  setQuality(quality: PlayerQuality): void;
}

/** The part of IntersectionObserver used (a stand-in in unit tests). */
export interface TileObserver {
  observe(el: Element): void;
  unobserve(el: Element): void;
  disconnect(): void;
}

export type ObserverFactory = (onChange: (entries: ReadonlyArray<{ target: Element; isIntersecting: boolean }>) => void) => TileObserver | null;

interface GridTile {
  el: Element;
  player: TilePlayer;
}

/** Without IntersectionObserver (very old browsers) every tile counts as in view. */
const browserObserver: ObserverFactory = (onChange) =>
  typeof IntersectionObserver === 'function' ? new IntersectionObserver((entries) => onChange(entries)) : null;

export class GridTiles {
  private readonly tiles = new Map<string, GridTile>();
  private readonly byElement = new Map<Element, string>();
  private readonly observer: TileObserver | null;
  private focused: string | null = null;

  constructor(createObserver: ObserverFactory = browserObserver) {
    this.observer = createObserver((entries) => {
      for (const entry of entries) {
        const id = this.byElement.get(entry.target);
        if (id !== undefined) this.inView(id, entry.isIntersecting);
      }
    });
  }

  /**
   * A tile whose player was made with TILE_QUALITY and paused off screen (`offscreen: true`): the
   * observer's first report, at once for every observed element, starts the ones in view.
   */
  add(id: string, el: Element, player: TilePlayer): void {
    this.remove(id);
    this.tiles.set(id, { el, player });
    this.byElement.set(el, id);
    if (this.observer) this.observer.observe(el);
    else player.setInView(true);
  }

  remove(id: string): void {
    const tile = this.tiles.get(id);
    if (!tile) return;
    this.observer?.unobserve(tile.el);
    this.byElement.delete(tile.el);
    this.tiles.delete(id);
    if (this.focused === id) this.focused = null;
  }

  /** Clicked or tapped: this tile plays at full rate, the one focused before goes back to keyframes. */
  focus(id: string): void {
    if (this.focused === id || !this.tiles.has(id)) return;
    if (this.focused !== null) this.tiles.get(this.focused)?.player.setQuality(TILE_QUALITY);
    this.focused = id;
    this.tiles.get(id)!.player.setQuality(FOCUS_QUALITY);
  }

  get focusedId(): string | null {
    return this.focused;
  }

  destroy(): void {
    this.observer?.disconnect();
    this.tiles.clear();
    this.byElement.clear();
    this.focused = null;
  }

  private inView(id: string, inView: boolean): void {
    const tile = this.tiles.get(id)!;
    // Scrolled away, the focus ends: back in view, the tile is one of the many again.
    if (!inView && this.focused === id) {
      this.focused = null;
      tile.player.setQuality(TILE_QUALITY);
    }
    tile.player.setInView(inView);
  }
}
