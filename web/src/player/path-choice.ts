import { mediaSourceAvailable } from './media-source.ts';
import type { PlayerPath } from './renderer.ts';

/**
 * Which decoding path a stream gets: WebCodecs when the browser has it, else jmuxer/MSE. `?player=`
 * in the URL or the player's toggle (remembered in localStorage) forces one; a path that failed
 * fatally is not chosen again by the same player.
 */

export type PathPreference = 'auto' | PlayerPath;

const PATH_STORAGE_KEY = 'picam.player.path';

/** `?player=` in the URL, else the stored choice, else 'auto'. */
export function preferredPath(): PathPreference {
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

export function rememberPath(path: PathPreference): void {
  try {
    if (path === 'auto') localStorage.removeItem(PATH_STORAGE_KEY);
    else localStorage.setItem(PATH_STORAGE_KEY, path);
  } catch {
    // storage disabled: the choice lasts for this page
  }
}

/** What this browser has. */
export function pathsAvailable(): Record<PlayerPath, boolean> {
  return {
    webcodecs: typeof VideoDecoder !== 'undefined' && typeof EncodedVideoChunk !== 'undefined',
    mse: mediaSourceAvailable(),
  };
}

export interface PathChoice {
  available: Record<PlayerPath, boolean>;
  preference: PathPreference;
  /** the path a fatal error moved this player away from */
  failed: PlayerPath | null;
  /** the stream has sound that WebCodecs cannot decode here (no AudioDecoder) */
  audioNeedsMse: boolean;
  /** the MSE path may play sound (jmuxer 'both' mode) */
  mseAudio: boolean;
}

/** The path to use, or null when neither works here. */
export function choosePath(c: PathChoice): PlayerPath | null {
  const mse = c.available.mse && c.failed !== 'mse';
  const webcodecs = c.available.webcodecs && c.failed !== 'webcodecs';
  if (c.preference === 'mse' && mse) return 'mse';
  // Sound matters more than the last few tens of ms: jmuxer 'both' plays audio in sync itself.
  if (c.audioNeedsMse && c.preference === 'auto' && mse && c.mseAudio) return 'mse';
  // WebCodecs is chosen without asking isConfigSupported first (see webCodecsDecodes).
  if (webcodecs) return 'webcodecs';
  return mse ? 'mse' : null;
}

/**
 * Asked alongside, once the WebCodecs renderer is running: waiting for the answer before the first
 * frame could be decoded cost the first picture 10-35 ms on a busy page (bench/README.md, "First
 * picture"). A codec it turns down moves the player to MSE, as any decoder failure does.
 */
export async function webCodecsDecodes(codec: string): Promise<boolean> {
  try {
    return (await VideoDecoder.isConfigSupported({ codec, optimizeForLatency: true })).supported === true;
  } catch {
    // a codec string it cannot even parse
    return false;
  }
}
