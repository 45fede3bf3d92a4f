import { api, errorText, type Camera } from '../api.ts';
import { h, link, replaceChildren } from '../dom.ts';
import { formatAgo, formatBitrate, formatSize } from '../format.ts';
import type { Page, PageContext } from '../page.ts';
import { Player } from '../player/player.ts';
import { RecordingsPanel } from '../recordings/recordings-panel.ts';
import { statusBadge, statusFacts } from './camera-status.ts';
import { probeCamera } from './cameras.ts';

/** One camera, full size, with its status and (for admins) links to its settings and share links. */

const REFRESH_MS = 4000;

export function cameraPage(ctx: PageContext): Page {
  const id = ctx.params.id ?? '';
  const title = h('h1', { testid: 'camera-name' }, 'Camera');
  const badge = h('span', {});
  const facts = h('div', {});
  const details = h('dl', { class: 'details', testid: 'camera-details' });
  const message = h('p', { class: 'form-message', testid: 'camera-message' });
  const admin = ctx.user?.role === 'admin' ? adminLinks(id) : null;
  const stage = h('div', { class: 'camera-stage' });
  const recordings = new RecordingsPanel({
    cameraId: id,
    canShare: ctx.user?.role === 'admin',
    live: { stage, start: () => new Player(stage, { cameraId: id, probe: () => probeCamera(id), keepScreenOn: true }) },
  });
  const el = h(
    'main',
    { class: 'page wide', testid: 'page-camera' },
    h('div', { class: 'page-title' }, link('/', '← Cameras', { class: 'back' }), title, badge, h('span', { class: 'spacer' }), admin),
    message,
    stage,
    recordings.playback,
    recordings.el,
    h('section', { class: 'camera-info' }, facts, details),
  );

  let timer = 0;
  let disposed = false;

  function show(camera: Camera): void {
    title.textContent = camera.name;
    document.title = `${camera.name} · picam`;
    replaceChildren(badge, statusBadge(camera));
    replaceChildren(facts, statusFacts(camera));
    replaceChildren(details, detailRows(camera));
    recordings.update(camera);
  }

  async function refresh(): Promise<void> {
    try {
      const { camera } = await api.camera(id);
      if (disposed) return;
      message.textContent = '';
      show(camera);
    } catch (err) {
      if (disposed) return;
      message.textContent = errorText(err);
    }
    if (!disposed) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }
  void refresh();

  return {
    el,
    title: 'Camera',
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
      recordings.dispose();
    },
  };
}

/** Admins: this camera's settings and share links. */
function adminLinks(id: string): HTMLElement {
  return h(
    'div',
    { class: 'actions' },
    link(`/admin/cameras?camera=${encodeURIComponent(id)}`, 'Settings', { class: 'button secondary', testid: 'camera-settings-link' }),
    link(`/admin/cameras/${encodeURIComponent(id)}/shares`, 'Share links', { class: 'button secondary', testid: 'camera-shares-link' }),
  );
}

/** The camera's details list: its processes, when it was seen, what it was asked for, its sound. */
function detailRows(camera: Camera): HTMLElement[] {
  const s = camera.status;
  const rows: [string, string][] = [
    ['Camera process', s.camera ?? '–'],
    ['Agent', s.agentVersion ?? '–'],
    ['Connected', s.connectedAt ? formatAgo(s.connectedAt) : '–'],
    ['Last seen', s.online ? 'now' : formatAgo(camera.lastSeenAt)],
    ['Requested', `${formatSize(camera.settings.width, camera.settings.height)} @ ${camera.settings.framerate} fps, ${formatBitrate(camera.settings.bitrate)}`],
    ['Audio', s.audio ? `${s.audio.sampleRate / 1000} kHz, ${s.audio.channels} ch` : 'none'],
  ];
  return rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]);
}
