import type { PlayerFullStats } from './player-stats.ts';

/**
 * The page's test hook: browser tests and benchmarks find every player on the page in
 * `window.__picam.players` and read what it knows with `stats()` (the fields are PlayerStats and
 * LiveAudioStats; tests read them by name, so renaming one is a change to this hook). Players are
 * added here and nowhere else, when they are made, and removed when destroyed.
 */

export interface PlayerOnPage {
  /** the player's element; `root.dataset.cameraId` says which camera it shows */
  readonly root: HTMLElement;
  stats(): PlayerFullStats;
}

export interface PicamTestHook {
  readonly players: PlayerOnPage[];
}

declare global {
  interface Window {
    __picam?: PicamTestHook;
  }
}

/** Lists the player on the page's hook; returns the function that takes it off again. */
export function exposePlayerToTests(player: PlayerOnPage): () => void {
  const hook = (window.__picam ??= { players: [] });
  hook.players.push(player);
  return () => {
    const i = hook.players.indexOf(player);
    if (i >= 0) hook.players.splice(i, 1);
  };
}
