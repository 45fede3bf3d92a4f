import { api, ApiRequestError, type ShareLookup } from '../api.ts';
import { h, replaceChildren } from '../dom.ts';
import { formatTimeLeft } from '../format.ts';
import type { Page, PageContext } from '../page.ts';
import { discardEarlySocket } from '../player/early-socket.ts';
import { Player } from '../player/player.ts';
import type { PlayerState } from '../player/player-state.ts';
import { sharedClip } from '../recordings/shared-clip.ts';
import { shareTokenOf } from '../share-link.ts';
import { fullPageMessage } from './layout.ts';

/**
 * `/s/:shareId#<token>`: watching without an account. The token rides in the URL fragment (never
 * sent to a server); the page sends it as Bearer to GET /api/share and as the WebSocket subprotocol.
 * The boot script has already started both (boot.ts): the lookup is answered from its request, and
 * the player claims its socket; a link with no live picture to show (a clip, an ended link) closes
 * that socket as soon as the lookup says so. When the link ends (410, close 4008, the countdown) the
 * whole page says so.
 */

type Ended = 'expired' | 'revoked' | 'invalid';

const ENDED_TEXT: Record<Ended, [string, string]> = {
  expired: ['This link has expired', 'Ask the person who shared it for a new one.'],
  revoked: ['This link was revoked', 'The owner of this camera has turned this link off.'],
  invalid: ['This link is not valid', 'Check that you copied the whole address, including the part after “#”.'],
};

export function shareViewerPage(ctx: PageContext): Page {
  const token = shareTokenOf(ctx.url.hash);
  const root = h('div', { class: 'share-viewer', testid: 'page-share' });
  let watching: Watching | null = null;
  let disposed = false;
  let ended = false;

  function end(kind: Ended): void {
    if (disposed || ended) return;
    ended = true;
    watching?.stop();
    watching = null;
    replaceChildren(root, endedPage(kind));
    document.title = `${ENDED_TEXT[kind][0]} · picam`;
  }

  /** The player could not connect: if the link has ended, the page says so (and the player stops). */
  async function probe(): Promise<PlayerState | null> {
    const result = await lookupShare(token);
    if (typeof result === 'string') {
      end(result);
      return 'expired';
    }
    return null;
  }

  if (!token) {
    end('invalid');
  } else {
    replaceChildren(root, h('p', { class: 'page muted' }, 'Opening the shared camera…'));
    void lookupShare(token).then((result) => {
      if (disposed) return;
      // Only a live link's player claims the boot script's socket; nothing else may keep it open.
      if (result === null || typeof result === 'string' || result.share.clip) discardEarlySocket();
      if (result === null) replaceChildren(root, fullPageMessage('The camera cannot be reached', 'The relay did not answer. Reload the page to try again.', 'share-unreachable'));
      else if (typeof result === 'string') end(result);
      else watching = watchShare(root, result, token, probe, end);
    });
  }

  return {
    el: root,
    title: 'Shared camera',
    dispose() {
      disposed = true;
      discardEarlySocket();
      watching?.stop();
    },
  };
}

interface Watching {
  stop(): void;
}

/** The live camera under the link's header and countdown, until `end` or `stop`. */
function watchShare(root: HTMLElement, share: ShareLookup, token: string, probe: () => Promise<PlayerState | null>, end: (kind: Ended) => void): Watching {
  let expiresAt = share.share.expiresAt;
  const countdown = h('span', { class: 'countdown', testid: 'share-countdown' });
  const tick = () => {
    const left = expiresAt - Date.now();
    countdown.textContent = `link valid for ${formatTimeLeft(left)}`;
    countdown.classList.toggle('soon', left < 5 * 60_000);
    if (left <= 0) void probe().then((state) => state ?? end('expired'));
  };
  const stage = h('div', { class: 'camera-stage' });
  replaceChildren(root, shareHeader(share, countdown), h('main', { class: 'page wide' }, stage));
  document.title = `${share.camera.name} · picam`;
  tick();
  const ticker = window.setInterval(tick, 1000);
  const clip = share.share.clip;
  // A clip link plays its stretch of the recording; a refused clip token means the link has ended.
  const gone = () => void lookupShare(token).then((r) => typeof r === 'string' && end(r));
  const player = clip ? sharedClip(stage, share.camera.id, clip, token, gone) : new Player(stage, {
    cameraId: share.camera.id,
    name: share.camera.name,
    token,
    probe,
    keepScreenOn: true,
    onExpiring: (at) => {
      expiresAt = at;
      tick();
    },
    onState: (state) => {
      // 4008 from the relay: ask which of the two it was.
      if (state === 'expired') void lookupShare(token).then((r) => end(typeof r === 'string' ? r : 'expired'));
    },
  });
  return {
    stop() {
      window.clearInterval(ticker);
      player.destroy();
    },
  };
}

/** Why the relay turned us away: 410 says expired or revoked, 401 invalid; null: no answer (keep trying). */
async function lookupShare(token: string): Promise<ShareLookup | Ended | null> {
  try {
    return await api.lookupShare(token);
  } catch (err) {
    if (err instanceof ApiRequestError) {
      if (err.status === 410) return err.code === 'link_revoked' ? 'revoked' : 'expired';
      if (err.status === 401 || err.status === 403 || err.status === 404) return 'invalid';
    }
    return null;
  }
}

/** The whole page once the link has ended. */
function endedPage(kind: Ended): HTMLElement {
  const [title, text] = ENDED_TEXT[kind];
  const page = fullPageMessage(title, text, 'share-ended');
  page.dataset.reason = kind;
  return page;
}

/** No app header for a guest: the camera's name, the link's label and its countdown. */
function shareHeader(info: ShareLookup, countdown: HTMLElement): HTMLElement {
  return h(
    'header',
    { class: 'app-header share-header' },
    h('span', { class: 'brand' }, h('span', { class: 'brand-dot', 'aria-hidden': 'true' }), h('span', { class: 'brand-name' }, 'picam')),
    h('strong', { testid: 'share-camera-name' }, info.camera.name),
    info.share.label ? h('span', { class: 'muted' }, info.share.label) : null,
    h('span', { class: 'spacer' }),
    countdown,
  );
}
