/**
 * Which Media Source jmuxer builds. ManagedMediaSource wherever it exists: on an iPhone (iOS 17.1+)
 * it is the only one, and where Safari has both it is the one WebKit tunes for (it may ask the page to
 * pause appending to save power, and it plays without the network-hungry prefetching of the old one).
 * It needs the <video> to have remote playback (AirPlay) disabled, else it never opens; the renderer
 * sets `disableRemotePlayback` on its video.
 *
 * jmuxer creates `new window.MediaSource()` (itself assigning ManagedMediaSource there when
 * MediaSource is absent), so the choice is made by pointing window.MediaSource at the managed one
 * before a muxer is created. Nothing else on the page uses MediaSource.
 */

export type MediaSourceKind = 'managed' | 'standard';

interface MediaSourceWindow {
  MediaSource?: unknown;
  ManagedMediaSource?: unknown;
}

/** The kind jmuxer will use here, after pointing window.MediaSource at it; null: neither exists. */
export function selectMediaSource(win: MediaSourceWindow = window as unknown as MediaSourceWindow): MediaSourceKind | null {
  if (typeof win.ManagedMediaSource === 'function') {
    if (win.MediaSource !== win.ManagedMediaSource) win.MediaSource = win.ManagedMediaSource;
    return 'managed';
  }
  return typeof win.MediaSource === 'function' ? 'standard' : null;
}

/** Either kind is there (a browser with neither cannot use the MSE path). */
export function mediaSourceAvailable(win: MediaSourceWindow = window as unknown as MediaSourceWindow): boolean {
  return typeof win.ManagedMediaSource === 'function' || typeof win.MediaSource === 'function';
}
