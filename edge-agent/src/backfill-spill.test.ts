import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Track } from '@picam/protocol';
import { BackfillRing } from './backfill-ring.ts';
import { BackfillSpill, SpilledRing } from './backfill-spill.ts';
import { createLogger } from './logger.ts';

const log = createLogger('silent');

function frameBytes(n: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = (n * 31 + i) & 0xff;
  return data;
}

const flushed = (spill: BackfillSpill) => spill.written();

test('GOPs the ring lets go are kept on disk, read back intact, and a run can start there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'picam-spill-'));
  writeFileSync(join(dir, 'picam-backfill-7.bin'), 'left over from an earlier run');
  writeFileSync(join(dir, 'unrelated.txt'), 'not ours');
  const spill = new BackfillSpill({ dir, maxBytes: 10 * 1024 * 1024, log });
  assert.deepEqual(readdirSync(dir), ['unrelated.txt'], 'an earlier run\'s files are removed, nothing else');
  const ring = new BackfillRing(30_000, { onEvict: (gop) => spill.keep(gop) });
  const kept = new SpilledRing(ring, spill);
  const written: Array<{ captureTimeUs: number; data: Uint8Array }> = [];
  for (let n = 0; n < 300; n++) {
    const keyframe = n % 10 === 0;
    const frame = { captureTimeUs: 1_000_000_000 + n * 33_333, data: frameBytes(n, keyframe ? 4000 : 1000) };
    ring.append(Track.Video, keyframe, frame.captureTimeUs, frame.data);
    written.push(frame);
    if (n % 50 === 0) await flushed(spill);
  }
  await flushed(spill);
  assert.ok(ring.bytes <= 30_000);
  assert.equal(kept.oldestId, 0, 'with the spill, everything since the start is still there');
  for (let id = 0; id < 300; id++) {
    const frame = kept.get(id)!;
    assert.equal(frame.captureTimeUs, written[id]!.captureTimeUs);
    assert.deepEqual(new Uint8Array(frame.data), written[id]!.data, `frame ${id}`);
  }
  assert.deepEqual(kept.runStart(written[15]!.captureTimeUs, written[290]!.captureTimeUs), { id: 10, captureTimeUs: written[10]!.captureTimeUs, complete: true });
  assert.ok(readdirSync(dir).some((name) => name.startsWith('picam-backfill-')));
  spill.close();
  assert.deepEqual(readdirSync(dir), ['unrelated.txt'], 'closing removes its files');
});

test('the spill stays within its byte bound, oldest file first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'picam-spill-'));
  const spill = new BackfillSpill({ dir, maxBytes: 1024 * 1024, log });
  const ring = new BackfillRing(100_000, { onEvict: (gop) => spill.keep(gop) });
  const kept = new SpilledRing(ring, spill);
  for (let n = 0; n < 2000; n++) {
    ring.append(Track.Video, n % 10 === 0, 1_000_000_000 + n * 33_333, frameBytes(n, n % 10 === 0 ? 8000 : 2000));
    if (n % 20 === 0) await flushed(spill);
  }
  await flushed(spill);
  assert.ok(spill.bytes <= 1024 * 1024, `${spill.bytes} bytes spilled`);
  assert.ok(spill.bytes >= 512 * 1024, `${spill.bytes} bytes spilled: most of the bound is used`);
  assert.ok(kept.oldestId > 0 && kept.get(kept.oldestId)!.keyframe, 'the oldest frame held is a keyframe');
  assert.equal(kept.get(kept.oldestId - 1), undefined);
  spill.close();
});
