// Process plumbing shared by the fakes: unbuffered stderr, clean exits, the write log.

import { openSync, writeSync } from 'node:fs';

/**
 * Writes straight to fd 2. process.stderr would report a closed stderr as an asynchronous
 * 'error' event (an unhandled crash); a fake that dies noisily is not faithful.
 */
export function logLine(text) {
  try {
    writeSync(2, text.endsWith('\n') ? text : `${text}\n`);
  } catch {
    // stderr is gone: nobody can read it anyway.
  }
}

/**
 * A parent that dies without killing us leaves an orphan that may never write again (stalled, or
 * waiting for a TCP client) and so never sees EPIPE. Re-parenting is the tell; exit then.
 * `keepAlive` keeps the process running (the stall mode has nothing else pending).
 */
export function exitWhenOrphaned({ keepAlive = false } = {}) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 500);
  if (!keepAlive) timer.unref();
  return timer;
}

/**
 * FAKE_*_WRITE_LOG: one line per frame, "<frameIndexInClip> <loopCount> <epochMicros>",
 * the timestamp taken just before the frame was handed to the output.
 */
export function openWriteLog(path) {
  if (!path) return { record() {} };
  const fd = openSync(path, 'a');
  return {
    record(frameIndex, loop, epochUs) {
      writeSync(fd, `${frameIndex} ${loop} ${epochUs}\n`);
    },
  };
}

/** Non-negative integer from the environment, or undefined when unset/empty. */
export function envCount(name) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return n;
}
