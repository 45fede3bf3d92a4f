import type { CameraSettings } from '@picam/protocol';
import { api, errorText, type Camera } from '../api.ts';
import { h, messageLine } from '../dom.ts';
import { recordField } from '../recordings/record-setting.ts';

/** A camera's capture settings (sent to its agent when saved). */

const RESOLUTIONS: [number, number, string][] = [
  [640, 480, '640×480 (VGA)'],
  [1280, 720, '1280×720 (720p)'],
  [1920, 1080, '1920×1080 (1080p)'],
  [2304, 1296, '2304×1296 (Camera Module 3, 16:9 binned)'],
];

export function settingsForm(camera: Camera, onSaved: (camera: Camera) => void): HTMLElement {
  const s = camera.settings;
  const resolution = resolutionSelect(s);
  const framerate = h('input', { type: 'number', name: 'framerate', min: 1, max: 120, step: 1, value: s.framerate, required: true, testid: 'settings-framerate' });
  const bitrate = h('input', { type: 'number', name: 'bitrate', min: 0.05, max: 50, step: 0.05, value: s.bitrate / 1e6, required: true, testid: 'settings-bitrate' });
  const intra = h('input', { type: 'number', name: 'intra', min: 1, max: 600, step: 1, value: s.intra, required: true, testid: 'settings-intra' });
  const profile = h(
    'select',
    { name: 'profile', testid: 'settings-profile' },
    (['baseline', 'main', 'high'] as const).map((p) => h('option', { value: p, selected: p === s.profile }, p)),
  );
  const rotation = h(
    'select',
    { name: 'rotation', testid: 'settings-rotation' },
    h('option', { value: '0', selected: s.rotation === 0 }, '0°'),
    h('option', { value: '180', selected: s.rotation === 180 }, '180°'),
  );
  const check = (name: string, label: string, checked: boolean) => {
    const input = h('input', { type: 'checkbox', name, checked, testid: `settings-${name}` });
    return { input, el: h('label', { class: 'check' }, input, label) };
  };
  const hflip = check('hflip', 'Flip horizontally', s.hflip);
  const vflip = check('vflip', 'Flip vertically', s.vflip);
  const record = recordField(camera);
  const onDemand = check('onDemand', 'On demand: run the camera only while someone watches', s.onDemand);
  const message = messageLine('settings-message');
  const save = h('button', { type: 'submit', testid: 'settings-save' }, 'Save settings');

  const form = h(
    'form',
    { class: 'settings-form', testid: 'settings-form' },
    h('div', { class: 'form-grid' },
      h('label', {}, 'Resolution', resolution),
      h('label', {}, 'Frame rate (fps)', framerate),
      h('label', {}, 'Bitrate (Mbit/s)', bitrate),
      h('label', {}, 'Keyframe every (frames)', intra),
      h('label', {}, 'H.264 profile', profile),
      h('label', {}, 'Rotation', rotation),
      record.el,
    ),
    hflip.el,
    vflip.el,
    onDemand.el,
    h('div', { class: 'actions' }, save),
    message.el,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const [width, height] = resolution.value.split('x').map(Number);
    const settings: Partial<CameraSettings> = {
      width,
      height,
      framerate: Number(framerate.value),
      bitrate: Math.round(Number(bitrate.value) * 1e6),
      intra: Number(intra.value),
      profile: profile.value as CameraSettings['profile'],
      rotation: Number(rotation.value) === 180 ? 180 : 0,
      hflip: hflip.input.checked,
      vflip: vflip.input.checked,
      onDemand: onDemand.input.checked,
    };
    save.disabled = true;
    api
      .updateCamera(camera.id, { settings, ...record.patch() })
      .then(({ camera: updated }) => {
        message.info(updated.status.online ? 'Saved and sent to the camera.' : 'Saved. The camera gets it when it connects.');
        onSaved(updated);
      })
      .catch((err: unknown) => message.error(errorText(err)))
      .finally(() => {
        save.disabled = false;
      });
  });
  return form;
}

/** The usual sizes, and the camera's own when it is none of them. */
function resolutionSelect(s: CameraSettings): HTMLSelectElement {
  const resolutions = RESOLUTIONS.some(([w, hgt]) => w === s.width && hgt === s.height)
    ? RESOLUTIONS
    : [...RESOLUTIONS, [s.width, s.height, `${s.width}×${s.height}`] as [number, number, string]];
  return h(
    'select',
    { name: 'resolution', testid: 'settings-resolution' },
    resolutions.map(([w, hgt, label]) => h('option', { value: `${w}x${hgt}`, selected: w === s.width && hgt === s.height }, label)),
  );
}
