import { api, errorText, type Camera } from '../api.ts';
import { h, link, replaceChildren } from '../dom.ts';
import type { Page, PageContext } from '../page.ts';
import { GridTiles, TILE_QUALITY } from '../player/grid-tiles.ts';
import { Player } from '../player/player.ts';
import { statusBadge, statusFacts } from './camera-status.ts';

/**
 * Every camera with live video, a small player per tile; status refreshed every few seconds. A tile
 * plays only while in view, keyframes only until it is clicked or tapped (grid-tiles.ts).
 */

const REFRESH_MS = 4000;

interface Tile {
  el: HTMLElement;
  player: Player;
  footer: HTMLElement;
}

export function camerasPage(ctx: PageContext): Page {
  const grid = h('div', { class: 'camera-grid', testid: 'camera-grid' });
  const message = h('p', { class: 'form-message', testid: 'cameras-message' });
  const el = h('main', { class: 'page wide', testid: 'page-cameras' }, h('div', { class: 'page-title' }, h('h1', {}, 'Cameras')), message, grid);
  const tiles = new Map<string, Tile>();
  const view = new GridTiles();
  let timer = 0;
  let disposed = false;

  async function refresh(): Promise<void> {
    try {
      const { cameras } = await api.cameras();
      if (!disposed) {
        showTiles(grid, tiles, view, cameras);
        if (cameras.length === 0) replaceChildren(message, 'No cameras yet. ', ctx.user?.role === 'admin' ? link('/admin/cameras', 'Add your first camera') : 'Ask an administrator to give you access to one.');
        else message.textContent = '';
      }
    } catch (err) {
      if (!disposed) message.textContent = errorText(err);
    }
    if (!disposed) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }
  void refresh();

  return {
    el,
    title: 'Cameras',
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
      view.destroy();
      for (const tile of tiles.values()) tile.player.destroy();
      tiles.clear();
    },
  };
}

/** The grid in the API's order: a new camera gets a tile and its player, a known one a new footer, a gone one loses both. */
function showTiles(grid: HTMLElement, tiles: Map<string, Tile>, view: GridTiles, cameras: Camera[]): void {
  const seen = new Set<string>();
  for (const camera of cameras) {
    seen.add(camera.id);
    let tile = tiles.get(camera.id);
    if (!tile) {
      tile = newTile(camera);
      tiles.set(camera.id, tile);
      grid.appendChild(tile.el); // observed once in the document
      const id = camera.id;
      view.add(id, tile.el, tile.player);
      // Capture: a click on the player's own controls (sound, fullscreen) focuses the tile too.
      tile.el.addEventListener('click', () => view.focus(id), { capture: true });
    } else {
      const foot = tileFooter(camera);
      tile.footer.replaceWith(foot);
      tile.footer = foot;
    }
    grid.appendChild(tile.el); // keeps the API's order; moving a node keeps its player running
  }
  for (const [id, tile] of tiles) {
    if (seen.has(id)) continue;
    view.remove(id);
    tile.player.destroy();
    tile.el.remove();
    tiles.delete(id);
  }
}

function newTile(camera: Camera): Tile {
  const media = h('div', { class: 'tile-media' });
  const footer = tileFooter(camera);
  const el = h('article', { class: 'tile', testid: 'camera-tile' }, media, footer);
  el.dataset.cameraId = camera.id;
  const player = new Player(media, { cameraId: camera.id, name: camera.name, compact: true, quality: TILE_QUALITY, offscreen: true, probe: () => probeCamera(camera.id) });
  return { el, player, footer };
}

function tileFooter(camera: Camera): HTMLElement {
  return h('div', { class: 'tile-footer' }, h('div', { class: 'tile-title' }, link(`/cameras/${encodeURIComponent(camera.id)}`, camera.name, { testid: 'camera-tile-name' }), statusBadge(camera)), statusFacts(camera));
}

/** Why a camera's live socket was refused (the browser hides the upgrade's HTTP status). */
export async function probeCamera(cameraId: string): Promise<'forbidden' | 'not-found' | 'unauthenticated' | null> {
  try {
    await api.camera(cameraId);
    return null;
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 401) return 'unauthenticated';
    if (status === 403) return 'forbidden';
    if (status === 404) return 'not-found';
    return null;
  }
}
