import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Db } from '../db/client.ts';
import { indexRows, indexStatementsSql, type WrittenFragments } from '../db/recordings.ts';

/**
 * The recorder's index commits, on a thread of their own (docs/ARCHITECTURE.md, "Threads, memory and
 * backpressure"). A commit appends to SQLite's WAL, and while the recorder writes tens of MB a second
 * that append now and then waited on the kernel (page cache, the file system's journal) for 300-550
 * ms; on the relay's connection that wait is the event loop's, and every live viewer's frames wait
 * with it. The worker's own connection commits each batch instead. Until the worker says a batch is
 * in, the recorder still counts it (what it has recorded, for a backfill after a reconnect).
 */

export interface IndexWriter {
  /** Commits the batch on the worker's connection; rejects if it could not (IndexWriter.broken says whether the worker is gone). */
  commit(batch: readonly WrittenFragments[]): Promise<void>;
  /** The worker failed or stopped: the caller commits on its own connection. */
  readonly broken: boolean;
  /** Stops the worker once the batches sent to it are in. */
  stop(): Promise<void>;
}

/**
 * The worker's program: plain JavaScript run as an eval'd CommonJS script, like the checkpointer's.
 * The statements are the ones db/recordings.ts builds for the relay's own connection (their SQL and
 * the order of their named parameters), and the batch comes as their rows (indexRows), so the schema
 * and the mapping onto it have one description each. The worker waits for
 * the relay's connection when it holds the write lock (busy_timeout): only this thread waits. It
 * leaves checkpoints to the checkpointer, unless the WAL grows past 40 MB (the checkpointer gone).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');
db.pragma('wal_autocheckpoint = 10000');
const prepare = ({ sql, names }) => {
  const statement = db.prepare(sql);
  return (row) => statement.run(names.map((name) => row[name]));
};
const fragment = prepare(workerData.statements.fragment);
const segment = prepare(workerData.statements.segment);
// As indexWritten: one segment's rows failing (the segment deleted meanwhile) keeps no other out.
const commit = db.transaction((batch) => {
  for (const rows of batch) {
    try {
      for (const row of rows.fragments) fragment(row);
      segment(rows.segment);
    } catch {}
  }
});
parentPort.on('message', (message) => {
  if (message === 'stop') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    commit(message.batch);
    parentPort.postMessage({ id: message.id });
  } catch (err) {
    parentPort.postMessage({ id: message.id, error: err instanceof Error ? err.message : String(err) });
  }
});
`;

/**
 * `db` and `sqlite`: the relay's connection to the index (the statements are built on it; the worker
 * opens the same file). The worker starts with the first commit: a relay that records nothing has none.
 */
export function startIndexWriter(db: Db, sqlite: Database.Database, options: { failed?(err: Error): void } = {}): IndexWriter {
  const waiting = new Map<number, { resolve(): void; reject(err: Error): void }>();
  let nextId = 1;
  let broken = false;
  let stopping = false;
  let running: { worker: Worker; exited: Promise<void> } | undefined;
  const fail = (err: Error) => {
    if (broken) return;
    broken = true;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const start = () => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), path: sqlite.name, statements: indexStatementsSql(db) },
    });
    worker.on('message', (reply: { id: number; error?: string }) => {
      const w = waiting.get(reply.id);
      waiting.delete(reply.id);
      if (reply.error === undefined) w?.resolve();
      else w?.reject(new Error(`recording index commit failed: ${reply.error}`));
      // Only batches on their way (and a stop) keep the process alive, as a commit on the event loop would.
      if (waiting.size === 0 && !stopping) worker.unref();
    });
    worker.on('error', (err) => {
      options.failed?.(err);
      fail(err);
    });
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    void exited.then(() => fail(new Error('recording index thread exited')));
    return { worker, exited };
  };
  return {
    get broken() {
      return broken;
    },
    commit(batch) {
      if (broken || stopping) return Promise.reject(new Error('recording index thread is gone'));
      running ??= start();
      const { worker } = running;
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, batch: indexRows(batch) });
      });
    },
    async stop() {
      stopping = true;
      if (!running) {
        broken = true;
        return;
      }
      if (!broken) {
        running.worker.ref();
        running.worker.postMessage('stop');
      }
      await running.exited;
    },
  };
}
