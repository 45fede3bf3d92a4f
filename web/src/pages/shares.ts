import type { ShareCreate } from '@picam/protocol';
import { api, errorText, type Share } from '../api.ts';
import { codeWithCopy, confirmDialog, h, link, messageLine, replaceChildren } from '../dom.ts';
import { formatClockTime, formatDateTime, formatTimeLeft } from '../format.ts';
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
  const message = messageLine('share-message');
  const form = newShareForm(message);
  const created = h('div', { testid: 'share-created' });
  const list = h('div', { class: 'share-list', testid: 'share-list' });
  const el = h(
    'main',
    { class: 'page', testid: 'page-shares' },
    h('div', { class: 'page-title' }, link('/admin/cameras', '← Manage cameras', { class: 'back' }), title),
    h('p', { class: 'muted' }, 'Anyone with a link can watch this camera live (a clip link: just its stretch of the recording, made on the camera page), without an account, until the link expires or you revoke it.'),
    form.el,
    created,
    h('h2', {}, 'Links'),
    list,
  );

  let disposed = false;
  let refreshTimer = 0;
  // Time left ticks every second without asking the relay.
  const ticker = window.setInterval(() => tickTimeLeft(list), 1000);
  const revoke = async (share: Share) => {
    if (!(await confirmRevoke(share))) return;
    await api
      .revokeShare(share.id)
      .then(() => refresh())
      .catch((err: unknown) => message.error(errorText(err)));
  };

  async function refresh(): Promise<void> {
    window.clearTimeout(refreshTimer);
    try {
      const { shares } = await api.shares(cameraId);
      if (disposed) return;
      showShares(list, shares, revoke);
    } catch (err) {
      if (!disposed) message.error(errorText(err));
    }
    if (!disposed) refreshTimer = window.setTimeout(() => void refresh(), REFRESH_MS);
  }

  form.onSubmit((body) =>
    api.createShare(cameraId, body).then(({ share, url }) => {
      replaceChildren(created, createdLinkPanel(share, url));
      void refresh();
    }),
  );

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

/** The "New link" form; `onSubmit`'s handler gets a checked request and creates the link. */
function newShareForm(message: ReturnType<typeof messageLine>): { el: HTMLFormElement; onSubmit(create: (body: ShareCreate) => Promise<void>): void } {
  const presetInputs = PRESETS.map(([label, seconds], i) => {
    const input = h('input', { type: 'radio', name: 'lifetime', value: String(seconds), checked: i === 2, testid: `share-preset-${seconds}` });
    return h('label', { class: 'chip' }, input, label);
  });
  const untilRadio = h('input', { type: 'radio', name: 'lifetime', value: 'until', testid: 'share-preset-until' });
  const untilDate = h('input', { type: 'datetime-local', name: 'until', testid: 'share-until' });
  untilDate.addEventListener('focus', () => (untilRadio.checked = true));
  const label = h('input', { name: 'label', maxlength: 200, placeholder: 'e.g. for the neighbours', testid: 'share-label' });
  const create = h('button', { type: 'submit', testid: 'share-create' }, 'Create link');
  const el = h(
    'form',
    { class: 'card', testid: 'share-form' },
    h('h2', {}, 'New link'),
    h('fieldset', { class: 'chips' }, h('legend', {}, 'Valid for'), presetInputs, h('label', { class: 'chip' }, untilRadio, 'until', untilDate)),
    h('label', {}, 'Label (optional)', label),
    h('div', { class: 'actions' }, create),
    message.el,
  );

  /** The request the form asks for, or null after saying what is wrong. */
  const read = (): ShareCreate | null => {
    const choice = el.querySelector<HTMLInputElement>('input[name="lifetime"]:checked')?.value ?? String(24 * 3600);
    const body: ShareCreate = {};
    if (choice === 'until') {
      const at = untilDate.value ? new Date(untilDate.value).getTime() : Number.NaN;
      if (!Number.isFinite(at) || at <= Date.now()) {
        message.error('Pick a date and time in the future.');
        return null;
      }
      body.expiresAt = at;
    } else {
      body.expiresIn = Number(choice);
    }
    if (label.value.trim()) body.label = label.value.trim();
    return body;
  };

  const onSubmit = (handler: (body: ShareCreate) => Promise<void>) =>
    el.addEventListener('submit', (event) => {
      event.preventDefault();
      message.clear();
      const body = read();
      if (!body) return;
      create.disabled = true;
      handler(body)
        .then(() => {
          label.value = '';
        })
        .catch((err: unknown) => message.error(errorText(err)))
        .finally(() => {
          create.disabled = false;
        });
    });
  return { el, onSubmit };
}

/** The new link, shown once (the relay keeps only its hash). */
function createdLinkPanel(share: Share, url: string): HTMLElement {
  return h(
    'section',
    { class: 'card enrollment', testid: 'share-new' },
    h('h2', {}, 'Link created'),
    h('p', {}, 'Copy it now: the link is shown only once. It expires ', formatDateTime(share.expiresAt), '.'),
    codeWithCopy(url, 'share-url'),
  );
}

function confirmRevoke(share: Share): Promise<boolean> {
  return confirmDialog(`Revoke “${share.label || 'unnamed link'}”? Everyone watching through it is cut off at once.`, 'Revoke link');
}

/** Active links first, then the ended ones. */
function showShares(list: HTMLElement, shares: Share[], revoke: (share: Share) => Promise<void>): void {
  const active = shares.filter((s) => s.state === 'active');
  const ended = shares.filter((s) => s.state !== 'active');
  replaceChildren(list, shares.length === 0 ? h('p', { class: 'muted', testid: 'share-none' }, 'No links yet.') : null, [...active, ...ended].map((s) => shareRow(s, revoke)));
}

function shareRow(share: Share, revoke: (share: Share) => Promise<void>): HTMLElement {
  const left = h('span', { class: 'time-left', testid: 'share-time-left' });
  if (share.state === 'active') {
    left.dataset.expiresAt = String(share.expiresAt);
    left.textContent = formatTimeLeft(share.expiresAt - Date.now());
  } else {
    left.textContent = share.state === 'revoked' ? `revoked ${formatDateTime(share.revokedAt)}` : `expired ${formatDateTime(share.expiresAt)}`;
  }
  const el = h(
    'article',
    { class: `card share-row ${share.state}`, testid: 'share-row' },
    h('div', { class: 'card-head' }, h('strong', { testid: 'share-row-label' }, share.label || 'Unnamed link'), h('span', { class: `badge ${share.state === 'active' ? 'online' : 'offline'}`, testid: 'share-state' }, share.state), clipNote(share)),
    h('p', { class: 'muted' }, `Created ${formatDateTime(share.createdAt)} · expires ${formatDateTime(share.expiresAt)} · `, left, ` · ${share.viewers} watching`),
    share.state === 'active' ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger small', testid: 'share-revoke', onclick: () => void revoke(share) }, 'Revoke')) : null,
  );
  el.dataset.shareId = share.id;
  return el;
}

/** A clip link says which stretch of the recording it opens. */
function clipNote(share: Share): HTMLElement | null {
  return share.clip ? h('span', { class: 'muted', testid: 'share-clip' }, `clip ${formatClockTime(share.clip.start)} – ${formatClockTime(share.clip.end)}`) : null;
}

function tickTimeLeft(list: HTMLElement): void {
  for (const cell of list.querySelectorAll<HTMLElement>('[data-expires-at]')) {
    cell.textContent = formatTimeLeft(Number(cell.dataset.expiresAt) - Date.now());
  }
}
