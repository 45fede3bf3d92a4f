import { api, errorText, type Camera } from '../api.ts';
import { h, messageLine, replaceChildren } from '../dom.ts';
import type { Page, PageContext } from '../page.ts';
import { adminCameraCard, enrollmentPanel, type AdminCameraCard } from './admin-camera-card.ts';

/** Add, rename, configure, re-enroll and delete cameras (admins); each camera's card: admin-camera-card.ts. */

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
  const cards = new Map<string, AdminCameraCard>();
  const openFirst = ctx.url.searchParams.get('camera');
  let timer = 0;
  let disposed = false;

  const cardFor = (camera: Camera) =>
    adminCameraCard(camera, openFirst === camera.id, () => {
      cards.get(camera.id)?.el.remove();
      cards.delete(camera.id);
    });

  async function refresh(): Promise<void> {
    try {
      const { cameras } = await api.cameras();
      if (disposed) return;
      showCards(list, cards, cameras, cardFor);
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
        replaceChildren(enrollment, enrollmentPanel(camera, e));
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

/** The list in the relay's order: existing cards updated in place, new ones made, gone ones removed. */
function showCards(list: HTMLElement, cards: Map<string, AdminCameraCard>, cameras: Camera[], cardFor: (camera: Camera) => AdminCameraCard): void {
  const seen = new Set<string>();
  for (const camera of cameras) {
    seen.add(camera.id);
    let card = cards.get(camera.id);
    if (card) card.update(camera);
    else cards.set(camera.id, (card = cardFor(camera)));
    list.appendChild(card.el);
  }
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.el.remove();
      cards.delete(id);
    }
  }
  if (cameras.length === 0) replaceChildren(list, h('p', { class: 'muted', testid: 'admin-no-cameras' }, 'No cameras yet: add one above.'));
  else list.querySelector('[data-testid="admin-no-cameras"]')?.remove();
}
