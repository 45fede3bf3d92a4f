// A stand-in for rpicam-vid (and libcamera-vid): same command line, same output behaviour, same
// failure modes, but the pictures come from a committed H.264 clip streamed in real time.
// See README.md for the flags and the FAKE_CAMERA_* knobs.

import { readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { splitAccessUnits } from './lib/annexb.mjs';
import { parseOptions, validateOptions, UsageError } from './lib/options.mjs';
import { epochMicros, nowNs, runPaced } from './lib/realtime.mjs';
import { envCount, exitWhenOrphaned, logLine, openWriteLog } from './lib/proc.mjs';
import {
  connectToServer,
  listenForOneClient,
  nullSink,
  openFile,
  openStdout,
  parseNetworkAddress,
} from './lib/sinks.mjs';
import {
  HELP_TEXT,
  LIST_CAMERAS_TEXT,
  NO_CAMERAS_TEXT,
  VERSION_TEXT,
  cameraManagerLines,
  configureLines,
  frameInfoLine,
} from './lib/rpicam-text.mjs';

const CLIPS_DIR = fileURLToPath(new URL('../fixtures/clips/', import.meta.url));
const CLIPS = [
  { width: 640, height: 480, file: '640x480-baseline.h264' },
  { width: 1280, height: 720, file: '1280x720-main.h264' },
  { width: 1920, height: 1080, file: '1920x1080-high.h264' },
];
// rpicam-vid's video size when --width/--height are not given.
const DEFAULT_SIZE = { width: 640, height: 480 };

/** rpicam-apps reports every fatal error this way and returns -1 from main (exit status 255). */
function fail(message, code = 255) {
  logLine(`ERROR: *** ${message} ***`);
  process.exit(code);
}

/** The clip whose size matches the request, else the nearest one. */
export function chooseClip(width, height) {
  const distance = (c) => Math.abs(c.width - width) + Math.abs(c.height - height);
  const best = CLIPS.reduce((a, b) => (distance(b) < distance(a) ? b : a));
  return CLIPS_DIR + best.file;
}

// Answers that end the program before any camera is opened; true if one was given.
function answerInformationalFlags(opts, noCamera) {
  let text;
  if (opts.help) text = HELP_TEXT;
  else if (opts.version) text = VERSION_TEXT;
  else if (opts.listCameras) text = noCamera ? NO_CAMERAS_TEXT : LIST_CAMERAS_TEXT;
  if (text === undefined) return false;
  writeSync(1, text);
  return true;
}

function printStartupLines(opts, noCamera) {
  if (opts.verbose > 0) {
    // A Pi without a camera still starts libcamera; it just registers nothing.
    const lines = cameraManagerLines();
    for (const line of noCamera ? lines.slice(0, 1) : lines) logLine(line);
    if (!opts.nopreview && !noCamera) logLine('Preview window unavailable');
  }
  const extra = process.env.FAKE_CAMERA_STDERR;
  if (extra) logLine(extra.replace(/\\n/g, '\n'));
}

async function openOutput(opts, onClosed) {
  if (opts.output === '') return nullSink;
  if (opts.output === '-') {
    const sink = openStdout({ flush: opts.flush, allowTty: process.env.FAKE_CAMERA_FORCE_TTY === '1' }, onClosed);
    // The real binary would spray H.264 over the terminal; a fake used by people at a shell should not.
    if (!sink) fail('refusing to write H.264 to a terminal: redirect stdout, or set FAKE_CAMERA_FORCE_TTY=1');
    return sink;
  }
  if (!/^[a-z]{1,3}:\/\//.test(opts.output)) return openFile(opts.output, opts, onClosed);
  const address = parseNetworkAddress(opts.output);
  if (address.protocol !== 'tcp') throw new Error(`fake rpicam-vid does not emulate ${address.protocol} output`);
  if (!opts.listen) return connectToServer(address, onClosed).catch(() => fail('connect to server failed'));
  // The real one says this on stdout at -v 2; the fake says it on stderr at the default level,
  // so a test can wait for the listener instead of guessing when it is up.
  const onListening = (port) => {
    if (opts.verbose > 0) logLine(`Waiting for client to connect... (port ${port})`);
  };
  const sink = await listenForOneClient(address, onListening, onClosed);
  if (opts.verbose > 0) logLine('Client connection accepted');
  return sink;
}

function loadClip(opts) {
  const path = process.env.FAKE_CAMERA_CLIP || chooseClip(opts.width, opts.height);
  const units = splitAccessUnits(readFileSync(path));
  if (units.length === 0) throw new Error(`no H.264 access units in ${path}`);
  return units;
}

/** FAKE_CAMERA_* failure injection, read once at start. */
function readKnobs() {
  return {
    dieAfter: envCount('FAKE_CAMERA_DIE_AFTER'),
    stallAfter: envCount('FAKE_CAMERA_STALL_AFTER'),
    writeLog: openWriteLog(process.env.FAKE_CAMERA_WRITE_LOG),
  };
}

/** Why the stream ends instead of writing frame n, or undefined to go on. */
function reasonToStop(n, opts, knobs, elapsedMs) {
  if (knobs.dieAfter !== undefined && n >= knobs.dieAfter) return 'die';
  // A stalled camera also ignores -t: its frame loop, where -t is checked, no longer turns.
  if (knobs.stallAfter !== undefined && n >= knobs.stallAfter) return 'stall';
  if (opts.frames > 0 && n >= opts.frames) return 'done';
  // Like the real loop: checked as each frame completes, so -t 1000 at 30 fps writes 30 frames.
  if (opts.timeoutMs > 0 && elapsedMs > opts.timeoutMs) return 'timeout';
  return undefined;
}

/**
 * Streams the clip in a loop, one access unit per frame interval, until -t, --frames, an injected
 * failure, a signal, or the reader leaving (the last two end the process from their handlers).
 */
async function stream(opts, units, sink, knobs) {
  const intervalNs = BigInt(Math.round(1e9 / opts.framerate));
  const start = nowNs();
  let reason;
  await runPaced(async (n) => {
    reason = reasonToStop(n, opts, knobs, Number(nowNs() - start) / 1e6);
    if (reason) return false;
    const unit = units[n % units.length];
    // Without --inline the Pi's encoder sends SPS/PPS once, in front of the very first frame only.
    const bytes = opts.inline || n === 0 ? unit.data : unit.withoutParameterSets;
    const stamp = epochMicros();
    await sink.write(bytes);
    knobs.writeLog.record(unit.index, Math.floor(n / units.length), stamp);
    if (!opts.nopreview && opts.verbose > 0) logLine(frameInfoLine(n, opts.framerate));
    return true;
  }, () => intervalNs);
  return reason;
}

function finish(reason, opts, sink) {
  if (reason === 'stall') {
    exitWhenOrphaned({ keepAlive: true }); // wedged: alive and silent until someone kills it
    return;
  }
  if (reason === 'timeout' && opts.verbose > 0) logLine(`Halting: reached timeout of ${opts.timeoutMs} milliseconds.`);
  sink.drain(); // exit() flushes a FILE*, also on the error path
  if (reason === 'die') fail('failed to dequeue buffer', 1);
  process.exit(0);
}

export async function main(argv) {
  let opts;
  try {
    opts = parseOptions(argv);
    validateOptions(opts);
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    throw err;
  }
  const noCamera = process.env.FAKE_CAMERA_NO_CAMERA === '1';
  if (answerInformationalFlags(opts, noCamera)) return;
  let knobs;
  try {
    knobs = readKnobs();
  } catch (err) {
    fail(err.message);
  }
  opts.width ||= DEFAULT_SIZE.width;
  opts.height ||= DEFAULT_SIZE.height;

  exitWhenOrphaned();

  printStartupLines(opts, noCamera);
  if (noCamera) fail('no cameras available');
  if (opts.camera !== 0) fail('selected camera is not available');
  let units;
  try {
    units = loadClip(opts);
  } catch (err) {
    fail(`fake rpicam-vid: ${err.message}`); // a broken test setup, not a camera fault
  }

  let sink;
  try {
    // The reader left: the real binary's next fwrite()/send() fails and it exits with this.
    const isNetwork = /^[a-z]{1,3}:\/\//.test(opts.output);
    sink = await openOutput(opts, () => fail(isNetwork ? 'failed to send data on socket' : 'failed to write output bytes'));
  } catch (err) {
    fail(err.message);
  }
  if (opts.verbose > 0) for (const line of configureLines(opts.width, opts.height)) logLine(line);
  finish(await stream(opts, units, sink, knobs), opts, sink);
}
