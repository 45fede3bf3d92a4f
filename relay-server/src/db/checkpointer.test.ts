import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startCheckpointer } from './checkpointer.ts';

/**
 * The relay's connection hands its WAL checkpoints to a worker thread (checkpointer.ts), so that a
 * checkpoint's sync never stops the event loop. Shaped like the recorder's index: a commit a round
 * with a row per camera, into an indexed table.
 */

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'picam-checkpointer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function openIndexLike(dir: string): Database.Database {
  const db = new Database(join(dir, 'picam.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE fragments (id INTEGER PRIMARY KEY, camera TEXT, start_us INTEGER); CREATE INDEX fragments_camera_start ON fragments (camera, start_us)');
  return db;
}

function committer(db: Database.Database): (round: number) => void {
  const insert = db.prepare('INSERT INTO fragments (camera, start_us) VALUES (?, ?)');
  return db.transaction((round: number) => {
    for (let camera = 0; camera < 50; camera++) insert.run(`camera-${camera}`, round);
  });
}

const walBytes = (db: Database.Database) => statSync(`${db.name}-wal`).size;

test('the worker checkpoints the WAL, the relay connection never does, and the WAL stays short', { timeout: 30_000 }, async (t) => {
  const COMMITS = 200;

  // Control, same commits: a connection that never checkpoints (the worker's absence) keeps every frame.
  const control = openIndexLike(tempDir(t));
  control.pragma('wal_autocheckpoint = 0');
  const controlCommit = committer(control);
  for (let i = 0; i < COMMITS; i++) controlCommit(i);
  const unbounded = walBytes(control);
  control.close();

  const db = openIndexLike(tempDir(t));
  const commit = committer(db);
  let checkpointed: () => void = () => undefined;
  const checkpointer = startCheckpointer(db, { everyMs: 5, checkpointed: () => checkpointed() });
  t.after(() => checkpointer.stop());
  assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the relay connection must not checkpoint while the worker does');

  // As the recorder does: a commit, then time for a checkpoint (here: until one has copied it, or the
  // one running meanwhile has); a commit that finds the WAL all copied starts it over.
  let longest = 0;
  for (let i = 0; i < COMMITS; i++) {
    commit(i);
    longest = Math.max(longest, walBytes(db));
    await new Promise<void>((resolve) => (checkpointed = resolve));
  }
  assert.ok(longest < unbounded / 10, `the WAL reached ${longest} bytes; without checkpoints it holds ${unbounded}`);
  assert.equal((db.prepare('SELECT count(*) AS n FROM fragments').get() as { n: number }).n, COMMITS * 50);

  await checkpointer.stop();
  assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000, 'once the worker is gone, the connection checkpoints again');
  db.close();
});

test('a worker that cannot open the database says so, and the connection checkpoints again', { timeout: 30_000 }, async (t) => {
  const dir = tempDir(t);
  const db = openIndexLike(dir);
  t.after(() => db.close());
  // The file moves away under the open connection: the worker, opening it by name, finds nothing.
  renameSync(dir, `${dir}-moved`);
  t.after(() => rmSync(`${dir}-moved`, { recursive: true, force: true }));
  const failure = new Promise<Error>((resolve) => {
    const checkpointer = startCheckpointer(db, { failed: resolve });
    t.after(() => checkpointer.stop());
  });
  const err = await failure;
  assert.match(err.message, /unable to open|no such file|does not exist/i);
  assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
});
