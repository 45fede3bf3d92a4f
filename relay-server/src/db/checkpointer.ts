import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/**
 * WAL checkpoints on a thread of their own (docs/ARCHITECTURE.md, "Threads, memory and
 * backpressure"). SQLite checkpoints on the connection that commits, once the WAL passes 1000
 * pages, and a checkpoint syncs the database file, which under the recorder's writes takes up to
 * half a second; on the relay's connection that is the event loop, which every live viewer's frames
 * wait on. So the relay's connection never checkpoints (wal_autocheckpoint = 0), and a worker's own
 * connection does, PASSIVE (it never waits for the relay's readers or writer, nor makes them wait),
 * every 30 s when something was committed. Should the worker fail, the relay's connection
 * checkpoints again.
 */

export interface CheckpointerOptions {
  /** how often the worker checkpoints */
  everyMs?: number;
  /** a checkpoint ran (the relay's connection had committed since the last): how long it took */
  checkpointed?(result: { ms: number }): void;
  /** the worker failed: checkpoints are back on the relay's connection */
  failed?(err: Error): void;
}

export interface Checkpointer {
  /**
   * Stops the worker (its last checkpoint finished) and hands checkpoints back to the connection;
   * until then the worker keeps the process alive, like the connection's owner.
   */
  stop(): Promise<void>;
}

/**
 * The recorder's index with 50 cameras writes about 100 WAL pages a second: a WAL of at most ~12 MiB
 * between checkpoints, each one sync (SQLite's own 1000-page threshold synced every 10-60 s; an SD
 * card should not sync much more often). A commit that finds the WAL all copied starts it over.
 */
const DEFAULT_EVERY_MS = 30_000;
/** SQLite's own default, restored when the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

/**
 * The worker's program. Plain JavaScript run as an eval'd CommonJS script, so the bundled relay
 * and a run from the TypeScript sources start it the same way; better-sqlite3 comes by the path
 * the relay itself resolved.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
// Never wait for a lock: the relay's thread could be the one kept waiting.
db.pragma('busy_timeout = 0');
// The first look checkpoints whatever the WAL holds already.
let seen = -1;
const checkpoint = () => {
  // data_version moves whenever another connection (the relay's) has committed since the last look.
  const version = db.pragma('data_version', { simple: true });
  if (version === seen) return;
  seen = version;
  const started = performance.now();
  db.pragma('wal_checkpoint(PASSIVE)');
  parentPort.postMessage({ ms: performance.now() - started });
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(sqlite: Database.Database, options: CheckpointerOptions = {}): Checkpointer {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), path: sqlite.name, everyMs: options.everyMs ?? DEFAULT_EVERY_MS },
  });
  // The relay's connection stops checkpointing only once there is a worker to do it.
  sqlite.pragma('wal_autocheckpoint = 0');
  let running = true;
  const handBack = () => {
    if (!running) return;
    running = false;
    if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  };
  worker.on('message', (result: { ms: number }) => options.checkpointed?.(result));
  worker.on('error', (err) => {
    handBack();
    options.failed?.(err);
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  void exited.then(handBack);
  return {
    async stop() {
      if (running) worker.postMessage('stop');
      await exited;
    },
  };
}
