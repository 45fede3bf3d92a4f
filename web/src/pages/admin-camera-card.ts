import { api, errorText, type Camera, type Enrollment } from '../api.ts';
import { codeWithCopy, confirmDialog, h, link, messageLine, replaceChildren } from '../dom.ts';
import { formatAgo, formatDateTime, formatTimeLeft } from '../format.ts';
import { statusBadge } from './camera-status.ts';
import { settingsForm } from './settings-form.ts';

/** One camera on the admin page: its status, and rename, settings, share links, re-enroll, delete. */

export interface AdminCameraCard {
  el: HTMLElement;
  update(camera: Camera): void;
}

/** What a card's actions work on: the camera as last loaded, the panel under the buttons, its message line. */
interface CardParts {
  camera(): Camera;
  update(camera: Camera): void;
  panel: HTMLElement;
  message: ReturnType<typeof messageLine>;
}

/** The enrollment command and token, shown once after a camera is added or re-enrolled. */
export function enrollmentPanel(camera: Pick<Camera, 'id' | 'name'>, e: Enrollment): HTMLElement {
  const expiry = h('span', { testid: 'enroll-expiry' }, `expires in ${formatTimeLeft(e.expiresAt - Date.now())} (${formatDateTime(e.expiresAt)})`);
  return h(
    'section',
    { class: 'card enrollment', testid: 'enrollment' },
    h('h2', {}, `Enroll “${camera.name}”`),
    h('p', {}, 'Run this on the Raspberry Pi:'),
    codeWithCopy(e.command, 'enroll-command'),
    h('p', {}, 'and paste this token when it asks (it is read from standard input, so it stays out of shell history and the process list):'),
    codeWithCopy(e.token, 'enroll-token'),
    h('p', {}, 'Then start the agent with ', h('code', {}, 'picam-agent run'), '.'),
    h('p', { class: 'muted' }, 'The token works once and ', expiry, '.'),
  );
}

const smallButton = (text: string, testid: string, onClick: () => void, cls = 'secondary small') =>
  h('button', { type: 'button', class: cls, testid, onclick: onClick }, text);

/**
 * `openSettings`: the page was opened for this camera's settings (`?camera=<id>`).
 * `onDeleted`: the camera is gone; the page drops its card.
 */
export function adminCameraCard(initial: Camera, openSettings: boolean, onDeleted: () => void): AdminCameraCard {
  let current = initial;
  const title = h('h2', { testid: 'admin-camera-name' });
  const badge = h('span', {});
  const meta = h('p', { class: 'muted' });
  const update = (next: Camera) => {
    current = next;
    title.textContent = next.name;
    replaceChildren(badge, statusBadge(next));
    meta.textContent = `${next.enrolled ? 'Enrolled' : 'Not enrolled yet'} · last seen ${next.status.online ? 'now' : formatAgo(next.lastSeenAt)}`;
  };
  const parts: CardParts = { camera: () => current, update, panel: h('div', { class: 'card-panel' }), message: messageLine('admin-camera-message') };
  const settings = () => replaceChildren(parts.panel, settingsForm(current, update));
  const id = encodeURIComponent(initial.id);

  const el = h(
    'article',
    { class: 'card admin-camera', testid: 'admin-camera' },
    h('div', { class: 'card-head' }, title, badge, h('span', { class: 'spacer' }), link(`/cameras/${id}`, 'Watch', { testid: 'admin-camera-watch' })),
    meta,
    h(
      'div',
      { class: 'actions' },
      smallButton('Rename', 'admin-camera-rename', () => showRenameForm(parts)),
      smallButton('Settings', 'admin-camera-settings', settings),
      link(`/admin/cameras/${id}/shares`, 'Share links', { class: 'button secondary small', testid: 'admin-camera-shares' }),
      smallButton('Re-enroll', 'admin-camera-reenroll', () => void reenroll(parts)),
      smallButton('Delete', 'admin-camera-delete', () => void remove(parts, onDeleted), 'danger small'),
    ),
    parts.message.el,
    parts.panel,
  );
  el.dataset.cameraId = initial.id;
  update(initial);
  if (openSettings) settings();
  return { el, update };
}

function showRenameForm({ camera, update, panel, message }: CardParts): void {
  const input = h('input', { value: camera().name, required: true, maxlength: 100, testid: 'rename-input' });
  const form = h(
    'form',
    { class: 'inline-form' },
    input,
    h('button', { type: 'submit', testid: 'rename-save' }, 'Save'),
    smallButton('Cancel', 'rename-cancel', () => panel.replaceChildren()),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    api
      .updateCamera(camera().id, { name: input.value.trim() })
      .then(({ camera: updated }) => {
        update(updated);
        panel.replaceChildren();
        message.info('Renamed.');
      })
      .catch((err: unknown) => message.error(errorText(err)));
  });
  replaceChildren(panel, form);
  input.focus();
}

async function reenroll({ camera, panel, message }: CardParts): Promise<void> {
  const { id, name } = camera();
  const ok = await confirmDialog(`Re-enroll “${name}”? Its current device credential stops working at once; the Pi must enroll again with the new command.`, 'Re-enroll');
  if (!ok) return;
  api
    .reenroll(id)
    .then(({ enrollment: e }) => replaceChildren(panel, enrollmentPanel(camera(), e)))
    .catch((err: unknown) => message.error(errorText(err)));
}

async function remove({ camera, message }: CardParts, onDeleted: () => void): Promise<void> {
  const { id, name } = camera();
  const ok = await confirmDialog(`Delete “${name}”? Its agent and everyone watching are cut off, and its share links stop working.`, 'Delete camera');
  if (!ok) return;
  api
    .deleteCamera(id)
    .then(onDeleted)
    .catch((err: unknown) => message.error(errorText(err)));
}
