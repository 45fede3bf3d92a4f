import { api, errorText, type Share } from '../api.ts';
import { codeWithCopy, confirmDialog, h, link, messageLine, replaceChildren } from '../dom.ts';
import { formatDateTime, formatTimeLeft } from '../format.ts';
import type { Page, PageContext } from '../page.ts';

/** Share links of one camera: create (preset lifetimes or a date), copy, see time left, revoke. */

const PRESETS: [string, number][] = [
  ['15 min', 15 * 60],
  ['1 hour', 3600],
  ['24 hours', 24 * 3600],
  ['7 days', 7 * 24 * 3600],
];
const REFRESH_MS = 5000;

export function sharesPage(ctx: PageContext): Page {
  const cameraId = ctx.params.id ?? '';
  const title = h('h1', { testid: 'shares-title' }, 'Share links');
  const presetInputs = PRESETS.map(([label, seconds], i) => {
    const input = h('input', { type: 'radio', name: 'lifetime', value: String(seconds), checked: i === 2, testid: `share-preset-${seconds}` });
    return h('label', { class: 'chip' }, input, label);
  });
  const untilRadio = h('input', { type: 'radio', name: 'lifetime', value: 'until', testid: 'share-preset-until' });
  const untilDate = h('input', { type: 'datetime-local', name: 'until', testid: 'share-until' });
  untilDate.addEventListener('focus', () => (untilRadio.checked = true));
  const label = h('input', { name: 'label', maxlength: 200, placeholder: 'e.g. for the neighbours', testid: 'share-label' });
  const create = h('button', { type: 'submit', testid: 'share-create' }, 'Create link');
  const message = messageLine('share-message');
  const created = h('div', { testid: 'share-created' });
  const form = h(
    'form',
    { class: 'card', testid: 'share-form' },
    h('h2', {}, 'New link'),
    h('fieldset', { class: 'chips' }, h('legend', {}, 'Valid for'), presetInputs, h('label', { class: 'chip' }, untilRadio, 'until', untilDate)),
    h('label', {}, 'Label (optional)', label),
    h('div', { class: 'actions' }, create),
    message.el,
  );
  const list = h('div', { class: 'share-list', testid: 'share-list' });
  const el = h(
    'main',
    { class: 'page', testid: 'page-shares' },
    h('div', { class: 'page-title' }, link('/admin/cameras', '← Manage cameras', { class: 'back' }), title),
    h('p', { class: 'muted' }, 'Anyone with a link can watch this camera live, without an account, until the link expires or you revoke it.'),
    form,
    created,
    h('h2', {}, 'Links'),
    list,
  );

  let shares: Share[] = [];
  let disposed = false;
  let refreshTimer = 0;
  // Time left ticks every second without asking the relay.
  const ticker = window.setInterval(() => {
    for (const cell of list.querySelectorAll<HTMLElement>('[data-expires-at]')) {
      cell.textContent = formatTimeLeft(Number(cell.dataset.expiresAt) - Date.now());
    }
  }, 1000);

  function row(share: Share): HTMLElement {
    const left = h('span', { class: 'time-left', testid: 'share-time-left' });
    if (share.state === 'active') {
      left.dataset.expiresAt = String(share.expiresAt);
      left.textContent = formatTimeLeft(share.expiresAt - Date.now());
    } else {
      left.textContent = share.state === 'revoked' ? `revoked ${formatDateTime(share.revokedAt)}` : `expired ${formatDateTime(share.expiresAt)}`;
    }
    const revoke = h('button', { type: 'button', class: 'danger small', testid: 'share-revoke' }, 'Revoke');
    revoke.addEventListener('click', () => {
      void confirmDialog(`Revoke “${share.label || 'unnamed link'}”? Everyone watching through it is cut off at once.`, 'Revoke link').then((ok) => {
        if (!ok) return;
        api
          .revokeShare(share.id)
          .then(() => refresh())
          .catch((err: unknown) => message.error(errorText(err)));
      });
    });
    const el = h(
      'article',
      { class: `card share-row ${share.state}`, testid: 'share-row' },
      h('div', { class: 'card-head' }, h('strong', { testid: 'share-row-label' }, share.label || 'Unnamed link'), h('span', { class: `badge ${share.state === 'active' ? 'online' : 'offline'}`, testid: 'share-state' }, share.state)),
      h('p', { class: 'muted' }, `Created ${formatDateTime(share.createdAt)} · expires ${formatDateTime(share.expiresAt)} · `, left, ` · ${share.viewers} watching`),
      share.state === 'active' ? h('div', { class: 'actions' }, revoke) : null,
    );
    el.dataset.shareId = share.id;
    return el;
  }

  function render(): void {
    const active = shares.filter((s) => s.state === 'active');
    const ended = shares.filter((s) => s.state !== 'active');
    replaceChildren(list, shares.length === 0 ? h('p', { class: 'muted', testid: 'share-none' }, 'No links yet.') : null, [...active, ...ended].map(row));
  }

  async function refresh(): Promise<void> {
    window.clearTimeout(refreshTimer);
    try {
      shares = (await api.shares(cameraId)).shares;
      if (disposed) return;
      render();
    } catch (err) {
      if (!disposed) message.error(errorText(err));
    }
    if (!disposed) refreshTimer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    message.clear();
    const choice = form.querySelector<HTMLInputElement>('input[name="lifetime"]:checked')?.value ?? String(24 * 3600);
    const body: { expiresIn?: number; expiresAt?: number; label?: string } = {};
    if (choice === 'until') {
      const at = untilDate.value ? new Date(untilDate.value).getTime() : Number.NaN;
      if (!Number.isFinite(at) || at <= Date.now()) {
        message.error('Pick a date and time in the future.');
        return;
      }
      body.expiresAt = at;
    } else {
      body.expiresIn = Number(choice);
    }
    if (label.value.trim()) body.label = label.value.trim();
    create.disabled = true;
    api
      .createShare(cameraId, body)
      .then(({ share, url }) => {
        label.value = '';
        replaceChildren(
          created,
          h(
            'section',
            { class: 'card enrollment', testid: 'share-new' },
            h('h2', {}, 'Link created'),
            h('p', {}, 'Copy it now: the link is shown only once. It expires ', formatDateTime(share.expiresAt), '.'),
            codeWithCopy(url, 'share-url'),
          ),
        );
        void refresh();
      })
      .catch((err: unknown) => message.error(errorText(err)))
      .finally(() => {
        create.disabled = false;
      });
  });

  api
    .camera(cameraId)
    .then(({ camera }) => {
      if (disposed) return;
      title.textContent = `Share links: ${camera.name}`;
      document.title = `Share ${camera.name} · picam`;
    })
    .catch((err: unknown) => message.error(errorText(err)));
  void refresh();

  return {
    el,
    title: 'Share links',
    dispose() {
      disposed = true;
      window.clearInterval(ticker);
      window.clearTimeout(refreshTimer);
    },
  };
}
