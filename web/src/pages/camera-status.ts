import type { Camera } from '../api.ts';
import { h } from '../dom.ts';
import { formatBitrate, formatFps, formatSize } from '../format.ts';

/** The small status line shared by tiles, the camera page and the admin list. */
export function statusBadge(camera: Camera): HTMLElement {
  const online = camera.status.online;
  const text = online ? 'online' : camera.enrolled ? 'offline' : 'not enrolled';
  return h('span', { class: `badge ${online ? 'online' : 'offline'}`, testid: 'camera-status' }, text);
}

export function statusFacts(camera: Camera): HTMLElement {
  const s = camera.status;
  const facts: [string, string][] = [
    ['viewers', `${s.viewers} watching`],
    ['resolution', s.video ? formatSize(s.video.width, s.video.height) : formatSize(camera.settings.width, camera.settings.height)],
    ['fps', formatFps(s.online ? s.framerate : 0)],
    ['bitrate', formatBitrate(s.online ? s.bitrate : 0)],
  ];
  return h('ul', { class: 'facts', testid: 'camera-facts' }, facts.map(([id, text]) => h('li', { testid: `fact-${id}` }, text)));
}
