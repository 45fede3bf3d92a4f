import { RECORD_MODES, type CameraPatch, type RecordMode } from '@picam/protocol';
import { h } from '../dom.ts';
import type { Camera } from '../api.ts';

/** The camera settings form's "Recording" field: off, or continuous within the relay's retention. */

const LABELS: Record<RecordMode, string> = { off: 'Off', continuous: 'Continuous' };

export function recordField(camera: Camera): { el: HTMLElement; patch(): Pick<CameraPatch, 'record'> } {
  const select = h(
    'select',
    { name: 'record', testid: 'settings-record' },
    RECORD_MODES.map((m) => h('option', { value: m, selected: m === camera.record }, LABELS[m])),
  );
  return {
    el: h('label', {}, 'Recording', select),
    // Sent only when changed: a camera that follows the relay's RECORD_DEFAULT keeps following it.
    patch: () => (select.value === camera.record ? {} : { record: select.value as RecordMode }),
  };
}
