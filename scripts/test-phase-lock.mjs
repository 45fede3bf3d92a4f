// A lock shared by every `npm test` on this machine, so that two suites run side by side (two
// clones, a developer's run beside CI's) without spoiling each other's timings:
//  - the "shared" phase (load-tolerant tests, two files at a time) may run beside another suite's
//    shared phase;
//  - the "alone" phase (browsers, load on purpose) runs only when no other suite runs anything.
// A reader-writer lock in a directory: a shared holder leaves a `shared-<pid>` file, the alone holder
// a directory `alone` (mkdir is atomic) with its pid inside. Each side announces itself before it looks
// at the other (a shared holder writes its file, then backs off if `alone` exists; the alone holder
// makes `alone`, then waits for the shared files to go), so the two can never both go ahead. A waiting
// alone phase keeps new shared phases out, so it is not starved. A holder that died (its pid is gone)
// is cleared by whoever finds it.
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const POLL_MS = 500;
/** an `alone` directory with no pid in it for this long was left by a suite killed while making it */
const ORPHAN_MS = 10_000;
const REPORT_EVERY_MS = 60_000;

function alive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

export class TestPhaseLock {
  constructor(dir = process.env.PICAM_TEST_LOCK_DIR ?? join(tmpdir(), 'picam-relay-test-lock')) {
    this.dir = dir;
    this.aloneDir = join(dir, 'alone');
    this.sharedFile = join(dir, `shared-${process.pid}`);
    this.held = null;
    mkdirSync(dir, { recursive: true });
    const release = () => this.release();
    process.once('exit', release);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
      process.once(signal, () => {
        release();
        process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
      });
    }
  }

  /** the pid holding (or waiting for) the alone phase, if it is another live process */
  aloneOwner() {
    let pid;
    try {
      pid = Number(readFileSync(join(this.aloneDir, 'pid'), 'utf8'));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
      // Made but its pid not written yet (or the directory is gone): an owner is starting.
      let made;
      try {
        made = statSync(this.aloneDir).mtimeMs;
      } catch {
        return null;
      }
      if (Date.now() - made < ORPHAN_MS) return -1;
      rmSync(this.aloneDir, { recursive: true, force: true });
      return null;
    }
    if (pid === process.pid) return null;
    if (alive(pid)) return pid;
    rmSync(this.aloneDir, { recursive: true, force: true });
    return null;
  }

  /** live pids of other suites in their shared phase (dead ones are cleared) */
  sharedOwners() {
    const pids = [];
    for (const name of readdirSync(this.dir)) {
      const match = /^shared-(\d+)$/.exec(name);
      if (!match) continue;
      const pid = Number(match[1]);
      if (pid === process.pid) continue;
      if (alive(pid)) pids.push(pid);
      else rmSync(join(this.dir, name), { force: true });
    }
    return pids;
  }

  async acquireShared() {
    const waiting = new Waiting('the alone phase of another npm test');
    for (;;) {
      writeFileSync(this.sharedFile, String(process.pid));
      const owner = this.aloneOwner();
      if (owner === null) break;
      rmSync(this.sharedFile, { force: true });
      await waiting.tick(owner);
    }
    waiting.done();
    this.held = 'shared';
  }

  async acquireAlone() {
    if (this.held === 'shared') this.release();
    const waitingOwner = new Waiting('another npm test, to run the alone phase by itself');
    for (;;) {
      try {
        mkdirSync(this.aloneDir);
        writeFileSync(join(this.aloneDir, 'pid'), String(process.pid));
        break;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
      }
      const owner = this.aloneOwner();
      if (owner !== null) await waitingOwner.tick(owner);
    }
    this.held = 'alone';
    for (;;) {
      const others = this.sharedOwners();
      if (others.length === 0) break;
      await waitingOwner.tick(others.join(', '));
    }
    waitingOwner.done();
  }

  release() {
    if (this.held === 'shared') rmSync(this.sharedFile, { force: true });
    if (this.held === 'alone') rmSync(this.aloneDir, { recursive: true, force: true });
    this.held = null;
  }
}

/** Says once that it waits and for whom, again every minute, and how long it waited at the end. */
class Waiting {
  constructor(what) {
    this.what = what;
    this.since = 0;
    this.lastReport = 0;
  }

  async tick(owner) {
    const now = Date.now();
    if (this.since === 0) this.since = now;
    if (now - this.lastReport >= REPORT_EVERY_MS) {
      this.lastReport = now;
      const who = owner === -1 ? 'starting' : `pid ${owner}`;
      console.log(`# run-tests: waiting for ${this.what} (${who}) to finish${now > this.since ? `, ${Math.round((now - this.since) / 1000)} s so far` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }

  done() {
    if (this.since > 0) console.log(`# run-tests: waited ${Math.round((Date.now() - this.since) / 1000)} s for ${this.what}`);
  }
}
