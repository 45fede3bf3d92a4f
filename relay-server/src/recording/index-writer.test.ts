import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_CAMERA_SETTINGS } from '@picam/protocol';
import { insertCamera } from '../db/cameras.ts';
import { openDatabase, type OpenedDatabase } from '../db/client.ts';
import { insertSegment, recordedUntil, segmentFragments, type WrittenFragments } from '../db/recordings.ts';
import { startIndexWriter } from './index-writer.ts';

/**
 * The recorder's index commits run on a worker's own connection (index-writer.ts): a commit that
 * waits (on the kernel, or on another connection's write lock) waits there, not on the event loop.
 */

async function indexFixture(t: { after(fn: () => Promise<void> | void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'picam-index-writer-'));
  const opened: OpenedDatabase = await openDatabase({ dataDir: dir });
  t.after(async () => {
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const cameraId = 'cam-index';
  await insertCamera(opened.db, { id: cameraId, name: 'Index', settings: DEFAULT_CAMERA_SETTINGS, createdAt: Date.now() });
  const startUs = 1_700_000_000_000_000;
  const segmentId = insertSegment(opened.index, { cameraId, path: `${cameraId}/a.mp4`, startUs, endUs: startUs, bytes: 800, initBytes: 800, backfill: false });
  /** The recorder's batch for second `i` of the segment. */
  const second = (i: number, id = segmentId): WrittenFragments => ({
    segmentId: id,
    cameraId,
    fragments: [{ startUs: startUs + i * 1_000_000, endUs: startUs + (i + 1) * 1_000_000, offset: 800 + i * 1000, length: 1000, keyframe: i % 2 === 0 }],
    endUs: startUs + (i + 1) * 1_000_000,
    bytes: 800 + (i + 1) * 1000,
  });
  const fragments = () => segmentFragments(opened.index, segmentId);
  return { opened, cameraId, startUs, segmentId, second, fragments };
}

test('the worker commits each batch into the index the relay reads, a lost segment keeping no other out', async (t) => {
  const { opened, cameraId, startUs, second, fragments } = await indexFixture(t);
  const writer = startIndexWriter(opened.index, opened.sqlite);
  t.after(() => writer.stop());

  await writer.commit([second(0)]);
  await writer.commit([second(1, 999_999), second(1)]);

  assert.deepEqual(
    fragments().map((f) => [f.startUs - startUs, f.offset, f.length, f.keyframe]),
    [
      [0, 800, 1000, true],
      [1_000_000, 1800, 1000, false],
    ],
  );
  assert.equal(recordedUntil(opened.index, cameraId), startUs + 2_000_000, "the segment's end moved with its fragments");
  assert.equal(writer.broken, false);
});

test('a commit made while another connection holds the write lock leaves the caller free and lands once the lock is let go', async (t) => {
  const { opened, second, fragments } = await indexFixture(t);
  const writer = startIndexWriter(opened.index, opened.sqlite);
  t.after(() => writer.stop());

  // On the caller's own connection this commit would wait out busy_timeout (5 s) on this thread and
  // fail: the lock is held by this thread.
  const other = new Database(opened.sqlite.name);
  other.exec('BEGIN IMMEDIATE');
  const committed = writer.commit([second(0)]);
  await new Promise((resolve) => setImmediate(resolve));
  other.exec('COMMIT');
  other.close();
  await committed;
  assert.equal(fragments().length, 1);
});

test('stop() waits for the batches sent; a worker that cannot open the index says so, and commits fail for the caller to make', async (t) => {
  const { opened, second, fragments } = await indexFixture(t);
  const writer = startIndexWriter(opened.index, opened.sqlite);
  const sent = [writer.commit([second(0)]), writer.commit([second(1)]), writer.commit([second(2)])];
  await writer.stop();
  await Promise.all(sent);
  assert.equal(fragments().length, 3);
  assert.equal(writer.broken, true, 'a stopped writer takes no more batches');
  await assert.rejects(writer.commit([second(3)]));

  // The worker opens the index by its path: gone, it fails at once.
  const dir = mkdtempSync(join(tmpdir(), 'picam-index-writer-gone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gone = new Database(join(dir, 'gone.db'));
  t.after(() => gone.close());
  unlinkSync(join(dir, 'gone.db'));
  const failures: Error[] = [];
  const failing = startIndexWriter(opened.index, gone, { failed: (err) => failures.push(err) });
  await assert.rejects(failing.commit([second(3)]));
  await failing.stop();
  assert.equal(failing.broken, true);
  assert.equal(failures.length, 1, 'the failure is reported once');
});
