import { clipPath, type ClipTokenResponse, type TimeRange } from '@picam/protocol';
import { api, ApiRequestError } from '../api.ts';
import { h } from '../dom.ts';
import { formatClockTime } from '../format.ts';
import { ClipPlayer } from './clip-player.ts';

/**
 * A clip share link's picture on the no-login share page: the shared stretch of the recording in
 * the recording player. A <video> cannot send the share token as a header, so the page trades it
 * (POST /api/share/clip-token, Bearer share token) for a short-lived clip token that opens only this
 * clip, and puts that in the clip's address; a fresh one is fetched when it runs out.
 */

/** Asks for a new clip token this long before the old one runs out. */
const TOKEN_MARGIN_MS = 10_000;

export interface SharedClip {
  destroy(): void;
}

/**
 * Plays a clip link's `clip` of camera `cameraId` in `stage`. `onGone` hears when the relay refuses
 * the share token itself (410 expired or revoked, 401 invalid): the page then says the link has ended.
 */
export function sharedClip(stage: HTMLElement, cameraId: string, clip: TimeRange, shareToken: string, onGone: () => void): SharedClip {
  let current: ClipTokenResponse | null = null;
  const clipToken = async (): Promise<string> => {
    if (!current || current.expiresAt - TOKEN_MARGIN_MS < Date.now()) {
      try {
        current = await api.clipToken(shareToken);
      } catch (err) {
        if (err instanceof ApiRequestError && [401, 403, 404, 410].includes(err.status)) onGone();
        throw err;
      }
    }
    return current.token;
  };
  const player = new ClipPlayer({
    clipUrl: async (range) => clipPath(cameraId, range.start, range.end, await clipToken()),
  });
  const caption = h(
    'p',
    { class: 'muted clip-range', testid: 'shared-clip-range' },
    `Recorded ${formatClockTime(clip.start)} – ${formatClockTime(clip.end)}`,
  );
  const el = h('div', { class: 'shared-clip', testid: 'shared-clip' }, player.root, caption);
  stage.appendChild(el);
  // The relay cut the clip to this range when the link was made: all of it is recorded.
  void player.play(clip, true);
  return {
    destroy() {
      player.destroy();
      el.remove();
    },
  };
}
