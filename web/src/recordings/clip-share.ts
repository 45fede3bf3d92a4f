import type { TimeRange } from '@picam/protocol';
import { api, errorText } from '../api.ts';
import { codeWithCopy, h, messageLine, replaceChildren } from '../dom.ts';
import { formatClockTime, formatDateTime, formatTimeLeft } from '../format.ts';

/**
 * "Share this clip": a share link for the chosen stretch of the recording (the relay's clip share),
 * shown once with a copy button as the live share page does. Anyone with the link watches just that
 * stretch, without an account, until the link expires or is revoked on the camera's share page.
 */

const LIFETIMES: [string, number][] = [
  ['1 hour', 3600],
  ['24 hours', 24 * 3600],
  ['7 days', 7 * 24 * 3600],
];

export class ClipShareForm {
  readonly el: HTMLElement;
  private readonly rangeText: HTMLElement;
  private readonly create: HTMLButtonElement;
  private readonly created: HTMLElement;
  private range: TimeRange | null = null;

  constructor(cameraId: string) {
    this.rangeText = h('span', { class: 'clip-range', testid: 'clip-selection' }, 'Pick a moment or drag across the bar to choose a clip.');
    const lifetime = h(
      'select',
      { name: 'clip-lifetime', testid: 'clip-share-lifetime', 'aria-label': 'Link valid for' },
      LIFETIMES.map(([label, seconds], i) => h('option', { value: String(seconds), selected: i === 1 }, label)),
    );
    const label = h('input', { name: 'clip-label', maxlength: 200, placeholder: 'Label (optional)', testid: 'clip-share-label', 'aria-label': 'Label (optional)' });
    this.create = h('button', { type: 'submit', class: 'secondary', testid: 'clip-share-create', disabled: true }, 'Share this clip');
    const message = messageLine('clip-share-message');
    this.created = h('div', { testid: 'clip-share-created' });
    const form = h('form', { class: 'clip-share-form', testid: 'clip-share-form' }, h('label', {}, 'Link valid for', lifetime), label, this.create);
    this.el = h('div', { class: 'clip-share' }, this.rangeText, form, message.el, this.created);

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const clip = this.range;
      if (!clip) return;
      message.clear();
      this.create.disabled = true;
      const body: { expiresIn: number; clip: TimeRange; label?: string } = { expiresIn: Number(lifetime.value), clip };
      if (label.value.trim()) body.label = label.value.trim();
      api
        .createShare(cameraId, body)
        .then(({ share, url }) => {
          label.value = '';
          replaceChildren(
            this.created,
            h(
              'section',
              { class: 'card enrollment', testid: 'clip-share-new' },
              h('h2', {}, 'Clip link created'),
              h('p', {}, `${formatClockTime(clip.start)} – ${formatClockTime(clip.end)}. Copy it now: the link is shown only once. It expires `, formatDateTime(share.expiresAt), '.'),
              codeWithCopy(url, 'clip-share-url'),
            ),
          );
        })
        .catch((err: unknown) => message.error(errorText(err)))
        .finally(() => {
          this.create.disabled = this.range === null;
        });
    });
  }

  /** The stretch the link would be for (null: nothing chosen yet). */
  setRange(range: TimeRange | null): void {
    this.range = range;
    this.create.disabled = range === null;
    this.rangeText.textContent = range
      ? `Clip: ${formatClockTime(range.start)} – ${formatClockTime(range.end)} (${formatTimeLeft(range.end - range.start)})`
      : 'Pick a moment or drag across the bar to choose a clip.';
  }
}
