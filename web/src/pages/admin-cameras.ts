import { api, errorText, type Camera, type Enrollment } from '../api.ts';
import { codeWithCopy, confirmDialog, h, link, messageLine, replaceChildren } from '../dom.ts';
import { formatAgo, formatDateTime, formatTimeLeft } from '../format.ts';
import type { Page, PageContext } from '../page.ts';
import { statusBadge } from './camera-status.ts';
import { settingsForm } from './settings-form.ts';

/** Add, rename, configure, re-enroll and delete cameras (admins). */

const REFRESH_MS = 5000;

export function adminCamerasPage(ctx: PageContext): Page {
  const list = h('div', { class: 'admin-list', testid: 'admin-camera-list' });
  const enrollment = h('div', { testid: 'enrollment-panel' });
  const name = h('input', { name: 'name', required: true, maxlength: 100, placeholder: 'e.g. Garden', testid: 'add-camera-name' });
  const addButton = h('button', { type: 'submit', testid: 'add-camera-submit' }, 'Add camera');
  const addMessage = messageLine('add-camera-message');
  const addForm = h('form', { class: 'card inline-form', testid: 'add-camera-form' }, h('label', {}, 'New camera', name), addButton, addMessage.el);
  const el = h(
    'main',
    { class: 'page', testid: 'page-admin-cameras' },
    h('div', { class: 'page-title' }, h('h1', {}, 'Manage cameras')),
    addForm,
    enrollment,
    list,
  );

  /** Cards stay while their camera exists, so an open settings form or rename survives refreshes. */
  const cards = new Map<string, { el: HTMLElement; update(camera: Camera): void }>();
  const openFirst = ctx.url.searchParams.get('camera');
  let timer = 0;
  let disposed = false;

  function showEnrollment(camera: Pick<Camera, 'id' | 'name'>, e: Enrollment, target: HTMLElement): void {
    const expiry = h('span', { testid: 'enroll-expiry' }, `expires in ${formatTimeLeft(e.expiresAt - Date.now())} (${formatDateTime(e.expiresAt)})`);
    replaceChildren(
      target,
      h(
        'section',
        { class: 'card enrollment', testid: 'enrollment' },
        h('h2', {}, `Enroll “${camera.name}”`),
        h('p', {}, 'Run this on the Raspberry Pi:'),
        codeWithCopy(e.command, 'enroll-command'),
        h('p', {}, 'and paste this token when it asks (it is read from standard input, so it stays out of shell history and the process list):'),
        codeWithCopy(e.token, 'enroll-token'),
        h('p', {}, 'Then start the agent with ', h('code', {}, 'picam-agent run'), '.'),
        h('p', { class: 'muted' }, 'The token works once and ', expiry, '.'),
      ),
    );
  }

  function card(initial: Camera): { el: HTMLElement; update(camera: Camera): void } {
    let camera = initial;
    const title = h('h2', { testid: 'admin-camera-name' });
    const badge = h('span', {});
    const meta = h('p', { class: 'muted' });
    const panel = h('div', { class: 'card-panel' });
    const message = messageLine('admin-camera-message');
    const update = (next: Camera) => {
      camera = next;
      title.textContent = camera.name;
      replaceChildren(badge, statusBadge(camera));
      meta.textContent = `${camera.enrolled ? 'Enrolled' : 'Not enrolled yet'} · last seen ${camera.status.online ? 'now' : formatAgo(camera.lastSeenAt)}`;
    };
    const button = (text: string, testid: string, onClick: () => void, cls = 'secondary small') =>
      h('button', { type: 'button', class: cls, testid, onclick: onClick }, text);

    const rename = () => {
      const input = h('input', { value: camera.name, required: true, maxlength: 100, testid: 'rename-input' });
      const form = h('form', { class: 'inline-form' }, input, h('button', { type: 'submit', testid: 'rename-save' }, 'Save'), button('Cancel', 'rename-cancel', () => panel.replaceChildren()));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        api
          .updateCamera(camera.id, { name: input.value.trim() })
          .then(({ camera: updated }) => {
            update(updated);
            panel.replaceChildren();
            message.info('Renamed.');
          })
          .catch((err: unknown) => message.error(errorText(err)));
      });
      replaceChildren(panel, form);
      input.focus();
    };
    const settings = () => replaceChildren(panel, settingsForm(camera, update));
    const reenroll = async () => {
      const ok = await confirmDialog(`Re-enroll “${camera.name}”? Its current device credential stops working at once; the Pi must enroll again with the new command.`, 'Re-enroll');
      if (!ok) return;
      api
        .reenroll(camera.id)
        .then(({ enrollment: e }) => showEnrollment(camera, e, panel))
        .catch((err: unknown) => message.error(errorText(err)));
    };
    const remove = async () => {
      const ok = await confirmDialog(`Delete “${camera.name}”? Its agent and everyone watching are cut off, and its share links stop working.`, 'Delete camera');
      if (!ok) return;
      api
        .deleteCamera(camera.id)
        .then(() => {
          cards.get(camera.id)?.el.remove();
          cards.delete(camera.id);
        })
        .catch((err: unknown) => message.error(errorText(err)));
    };

    const el = h(
      'article',
      { class: 'card admin-camera', testid: 'admin-camera' },
      h('div', { class: 'card-head' }, title, badge, h('span', { class: 'spacer' }), link(`/cameras/${encodeURIComponent(camera.id)}`, 'Watch', { testid: 'admin-camera-watch' })),
      meta,
      h(
        'div',
        { class: 'actions' },
        button('Rename', 'admin-camera-rename', rename),
        button('Settings', 'admin-camera-settings', settings),
        link(`/admin/cameras/${encodeURIComponent(camera.id)}/shares`, 'Share links', { class: 'button secondary small', testid: 'admin-camera-shares' }),
        button('Re-enroll', 'admin-camera-reenroll', () => void reenroll()),
        button('Delete', 'admin-camera-delete', () => void remove(), 'danger small'),
      ),
      message.el,
      panel,
    );
    el.dataset.cameraId = camera.id;
    update(camera);
    if (openFirst === camera.id) settings();
    return { el, update };
  }

  async function refresh(): Promise<void> {
    try {
      const { cameras } = await api.cameras();
      if (disposed) return;
      const seen = new Set<string>();
      for (const camera of cameras) {
        seen.add(camera.id);
        const existing = cards.get(camera.id);
        if (existing) existing.update(camera);
        else cards.set(camera.id, card(camera));
        list.appendChild(cards.get(camera.id)!.el);
      }
      for (const [id, c] of cards) {
        if (!seen.has(id)) {
          c.el.remove();
          cards.delete(id);
        }
      }
      if (cameras.length === 0) replaceChildren(list, h('p', { class: 'muted', testid: 'admin-no-cameras' }, 'No cameras yet: add one above.'));
      else list.querySelector('[data-testid="admin-no-cameras"]')?.remove();
    } catch (err) {
      if (!disposed) addMessage.error(errorText(err));
    }
    if (!disposed) timer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }

  addForm.addEventListener('submit', (event) => {
    event.preventDefault();
    addButton.disabled = true;
    addMessage.clear();
    api
      .addCamera(name.value.trim())
      .then(({ camera, enrollment: e }) => {
        name.value = '';
        showEnrollment(camera, e, enrollment);
        window.clearTimeout(timer);
        void refresh();
      })
      .catch((err: unknown) => addMessage.error(errorText(err)))
      .finally(() => {
        addButton.disabled = false;
      });
  });

  void refresh();
  return {
    el,
    title: 'Manage cameras',
    dispose() {
      disposed = true;
      window.clearTimeout(timer);
    },
  };
}
