// Behaviour of the fake rpicam-vid / libcamera-vid / fake-audio that the rest of the suite relies on.
// Every test waits on events (output, exit) with a timeout; none sleeps in place of an event.
// Timing assertions are deliberately loose: they check behaviour (real-time pacing), not speed,
// and must hold on a busy 2-core machine where other suites run at the same time.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { once } from 'node:events';
import { findNalUnits, splitAccessUnits } from './fake-camera/lib/annexb.mjs';
import type { AccessUnit } from './fake-camera/lib/annexb.mjs';
import { splitAdtsFrames } from './fake-camera/lib/adts.mjs';
import { FAKE_CAMERA_DIR, envWithFakeCamera } from './helpers/fake-camera-path.ts';

const clipPath = (name: string): string => fileURLToPath(new URL(`./fixtures/clips/${name}`, import.meta.url));
const CLIP_640 = clipPath('640x480-baseline.h264');
const CLIP_720 = clipPath('1280x720-main.h264');
const CLIP_1080 = clipPath('1920x1080-high.h264');
const AUDIO_CLIP = clipPath('tone-48k-mono.aac');

const clip640 = readFileSync(CLIP_640);
const units640 = splitAccessUnits(clip640);
const STREAM_ARGS = ['--flush', '--inline', '-n', '-t', '0', '-o', '-'];

const scratch = mkdtempSync(join(tmpdir(), 'fake-camera-test-'));
let logCounter = 0;
const newLogPath = (): string => join(scratch, `writes-${logCounter++}.log`);

/** Rejects if `promise` has not settled within `ms`. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes of the first `n` units. */
const bytesOf = (units: AccessUnit[], n: number): number => units.slice(0, n).reduce((s, u) => s + u.data.length, 0);

interface Chunk {
  at: number;
  bytes: Buffer;
}

// How long to wait for an event before calling it missing: generous, because a loaded machine
// can take seconds just to start node.
const PATIENCE_MS = 15_000;

// Node reads a child's stdout at most 64 KiB at a time.
const READ_CAP = 65536;

const running = new Set<Fake>();

/** One spawned fake, with everything it printed and a way to wait for any condition on it. */
class Fake {
  readonly child: ChildProcessWithoutNullStreams;
  readonly chunks: Chunk[] = [];
  stdoutBytes = 0;
  stderrText = '';
  closed: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(command: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(command, args, { env: envWithFakeCamera(env) });
    running.add(this);
    this.child.stdout.on('data', (bytes: Buffer) => {
      this.chunks.push({ at: performance.now(), bytes });
      this.stdoutBytes += bytes.length;
      this.changed();
    });
    this.child.stderr.setEncoding('utf8').on('data', (text: string) => {
      this.stderrText += text;
      this.changed();
    });
    // 'close', not 'exit': by then all of stdout and stderr has been delivered.
    this.child.on('close', (code, signal) => {
      this.closed = { code, signal };
      running.delete(this);
      this.changed();
    });
  }

  stdout(): Buffer {
    return Buffer.concat(this.chunks.map((c) => c.bytes));
  }

  /** Resolves with `check()`'s value once it is truthy; re-checked on every output and on exit. */
  until<T>(what: string, check: () => T | undefined | null | false, timeoutMs = PATIENCE_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        fn();
      };
      const fail = (why: string): void =>
        finish(() => reject(new Error(`${why} waiting for ${what}; stderr:\n${this.stderrText.slice(-1500)}`)));
      const listener = (): void => {
        const value = check();
        if (value) finish(() => resolve(value));
        else if (this.closed) fail(`process ended (${JSON.stringify(this.closed)})`);
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  untilBytes(n: number, timeoutMs = PATIENCE_MS): Promise<number> {
    return this.until(`${n} bytes on stdout`, () => this.stdoutBytes >= n && this.stdoutBytes, timeoutMs);
  }

  /** Waits for the process to end; its output is complete by then. */
  async ended(timeoutMs = PATIENCE_MS): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve(this.closed);
      const timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms:\n${this.stderrText}`)), timeoutMs);
      this.child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.closed) this.child.kill(signal);
    return this.ended();
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

after(() => {
  for (const fake of running) fake.child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

/** Lines of a FAKE_CAMERA_WRITE_LOG file as numbers: [frameIndexInClip, loop, epochMicros]. */
function readWriteLog(path: string): [number, number, number][] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(Number) as [number, number, number]);
}

/**
 * Frames are scheduled at absolute times (start + n * interval): under load they may be late, but
 * never early. Allows one interval of slack for the process being preempted around frame 0.
 */
function assertNeverEarly(stampsUs: number[], intervalMs: number): void {
  const first = stampsUs[0] ?? 0;
  stampsUs.forEach((us, n) => {
    const sinceFirstMs = (us - first) / 1000;
    assert.ok(sinceFirstMs >= (n - 1) * intervalMs, `frame ${n} written ${sinceFirstMs.toFixed(1)} ms after frame 0`);
  });
}

const hasFfprobe = spawnSync('ffprobe', ['-version']).status === 0;

function ffprobePackets(path: string): { size: number; key: boolean }[] {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=size,flags', '-of', 'csv=p=0', path], {
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const [size, flags] = line.split(',');
      return { size: Number(size), key: (flags ?? '').includes('K') };
    });
}

function ffprobeFrameCount(path: string): number {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path],
    { encoding: 'utf8' },
  );
  return Number(out.trim());
}

describe('fake rpicam-vid', { concurrency: 4 }, () => {
  test('splits each clip into the frames and keyframes ffprobe finds', { skip: !hasFfprobe && 'no ffprobe' }, () => {
    for (const [path, keyframes] of [
      [CLIP_640, [0, 30, 60, 90]],
      [CLIP_720, [0, 30, 60, 90]],
      [CLIP_1080, [0, 60]],
    ] as const) {
      const clip = readFileSync(path);
      const units = splitAccessUnits(clip);
      const packets = ffprobePackets(path);
      assert.equal(units.length, 120, path);
      assert.equal(units.length, ffprobeFrameCount(path), path);
      assert.deepEqual(
        units.map((u) => u.data.length),
        packets.map((p) => p.size),
        `${path}: access unit sizes differ from ffprobe's packets`,
      );
      assert.deepEqual(units.flatMap((u, i) => (u.keyframe ? [i] : [])), keyframes, path);
      assert.deepEqual(packets.flatMap((p, i) => (p.key ? [i] : [])), keyframes, path);
      assert.ok(Buffer.concat(units.map((u) => u.data)).equals(clip), `${path}: units do not rebuild the clip`);
    }
  });

  test('one loop as written: 120 writes, and ffprobe counts 120 frames with the same keyframes', { skip: !hasFfprobe && 'no ffprobe' }, async () => {
    for (const [size, path, keyframes] of [
      [['--width', '640', '--height', '480'], CLIP_640, [0, 30, 60, 90]],
      [['--width', '1920', '--height', '1080'], CLIP_1080, [0, 60]],
    ] as const) {
      const log = newLogPath();
      const fake = new Fake('rpicam-vid', [...STREAM_ARGS, ...size, '--frames', '120', '--framerate', '600'], {
        FAKE_CAMERA_WRITE_LOG: log,
      });
      assert.deepEqual(await fake.ended(), { code: 0, signal: null });
      const written = join(scratch, `loop-${logCounter++}.h264`);
      writeFileSync(written, fake.stdout());
      const lines = readWriteLog(log);
      assert.equal(lines.length, 120, 'frames written');
      assert.equal(ffprobeFrameCount(written), 120, 'frames ffprobe decodes');
      const packets = ffprobePackets(written);
      assert.deepEqual(packets.flatMap((p, i) => (p.key ? [i] : [])), keyframes);
      assert.deepEqual(
        lines.flatMap(([i]) => (splitAccessUnits(readFileSync(path))[i]?.keyframe ? [i] : [])),
        keyframes,
        'keyframes per the write log',
      );
    }
  });

  test('writes the clip byte for byte, 120 frames a loop, and starts the next loop with the IDR', async () => {
    const log = newLogPath();
    // A high frame rate only to keep the test short; pacing has its own test.
    const fake = new Fake('rpicam-vid', [...STREAM_ARGS, '--framerate', '300'], { FAKE_CAMERA_WRITE_LOG: log });
    await fake.untilBytes(clip640.length + bytesOf(units640, 2));
    assert.deepEqual(await fake.stop(), { code: 0, signal: null });
    const out = fake.stdout();
    assert.ok(out.subarray(0, clip640.length).equals(clip640), 'first loop differs from the clip');
    const secondLoop = out.subarray(clip640.length, clip640.length + bytesOf(units640, 2));
    assert.ok(secondLoop.equals(clip640.subarray(0, bytesOf(units640, 2))), 'second loop does not restart the clip');
    const lines = readWriteLog(log);
    assert.deepEqual(
      lines.slice(0, 122).map(([i, loop]) => `${i}/${loop}`),
      [...Array.from({ length: 120 }, (_, i) => `${i}/0`), '0/1', '1/1'],
    );
  });

  test('with --flush every frame is one write: no read ever ends inside a frame', async () => {
    const fake = new Fake('rpicam-vid', STREAM_ARGS);
    await fake.untilBytes(bytesOf(units640, 15));
    await fake.stop();
    const frameEnds = new Set(units640.map((_, i) => bytesOf(units640, i + 1)));
    let total = 0;
    for (const chunk of fake.chunks) {
      total += chunk.bytes.length;
      // A reader that fell behind (busy machine) gets at most 64 KiB a read and may cut there.
      if (chunk.bytes.length < READ_CAP) assert.ok(frameEnds.has(total), `a read ended inside a frame, at byte ${total}`);
    }
  });

  test('paces frames in real time: 30 frames at 30 fps take about a second', async () => {
    const log = newLogPath();
    const fake = new Fake('rpicam-vid', STREAM_ARGS, { FAKE_CAMERA_WRITE_LOG: log });
    await fake.untilBytes(bytesOf(units640, 30));
    await fake.stop();
    // Timed by the camera's own write log: the reader's clock would time this machine's scheduling
    // of the reader (a reader started late finds frames already queued in the pipe).
    const stampsUs = readWriteLog(log).map(([, , us]) => us);
    const elapsedMs = ((stampsUs[29] ?? Number.NaN) - stampsUs[0]!) / 1000;
    // Frame 29 is due 29 intervals (967 ms) after frame 0.
    assert.ok(elapsedMs >= 850, `30 frames written in ${elapsedMs.toFixed(0)} ms`);
    assert.ok(elapsedMs < 10_000, `30 frames took ${elapsedMs.toFixed(0)} ms`);
    assertNeverEarly(stampsUs, 1000 / 30);
  });

  test('without --flush output leaves only in whole 4096-byte blocks (C stdio on a pipe)', async () => {
    const log = newLogPath();
    const fake = new Fake('rpicam-vid', ['--inline', '-n', '-t', '0', '-o', '-'], { FAKE_CAMERA_WRITE_LOG: log });
    await fake.untilBytes(40_000);
    await fake.stop();
    let total = 0;
    for (const chunk of fake.chunks) {
      total += chunk.bytes.length;
      assert.equal(total % 4096, 0, `stdout ended a read at byte ${total}`);
    }
    assert.ok(fake.stdout().equals(clip640.subarray(0, fake.stdoutBytes)));

    // The cost: frame 1's last byte sits in the buffer until frame 2 fills the block (one frame late).
    const frame1End = bytesOf(units640, 2);
    const arrival = fake.chunks.reduce<{ total: number; at?: number }>(
      (acc, c) => {
        const next = acc.total + c.bytes.length;
        return { total: next, at: acc.at ?? (next >= frame1End ? performance.timeOrigin + c.at : undefined) };
      },
      { total: 0 },
    ).at;
    const frame2HandedOverMs = (readWriteLog(log)[2]?.[2] ?? Infinity) / 1000;
    assert.ok(arrival !== undefined && arrival >= frame2HandedOverMs - 2, 'frame 1 left before frame 2 was written');
  });

  test('-t 1000 stops by itself after about a second, exit code 0', async () => {
    const log = newLogPath();
    const fake = new Fake('rpicam-vid', ['--flush', '--inline', '-n', '-t', '1000', '-o', '-'], { FAKE_CAMERA_WRITE_LOG: log });
    const result = await fake.ended();
    assert.deepEqual(result, { code: 0, signal: null });
    // Timed by the camera's own write stamps: this process may be too busy to see the bytes
    // arrive as they are written (a loaded run saw the first chunk and the exit 1 ms apart).
    const writes = readWriteLog(log);
    const elapsedMs = (writes.at(-1)![2] - writes[0]![2]) / 1000;
    assert.ok(elapsedMs >= 850 && elapsedMs < 10_000, `wrote for ${elapsedMs.toFixed(0)} ms`);
    assert.match(fake.stderrText, /Halting: reached timeout of 1000 milliseconds\./);
    assert.ok(writes.length >= 29 && writes.length <= 31, `${writes.length} frames in 1 s at 30 fps`);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} ends it cleanly with exit code 0`, async () => {
      const fake = new Fake('rpicam-vid', STREAM_ARGS);
      await fake.untilBytes(1);
      assert.deepEqual(await fake.stop(signal), { code: 0, signal: null });
      assert.doesNotMatch(fake.stderrText, /ERROR|Error|at .*\.mjs/);
    });
  }

  test('exits when its stdout is closed, with rpicam-vid\'s error and no stack trace', async () => {
    const fake = new Fake('rpicam-vid', STREAM_ARGS);
    await fake.untilBytes(1);
    fake.child.stdout.destroy();
    const result = await fake.ended();
    assert.equal(result.code, 255);
    assert.match(fake.stderrText, /ERROR: \*\*\* failed to write output bytes \*\*\*/);
    assert.doesNotMatch(fake.stderrText, /at .*\.mjs|node:internal/);
  });

  test('FAKE_CAMERA_DIE_AFTER=5 writes 5 frames, then fails like a broken camera (exit 1)', async () => {
    const fake = new Fake('rpicam-vid', STREAM_ARGS, { FAKE_CAMERA_DIE_AFTER: '5' });
    assert.deepEqual(await fake.ended(), { code: 1, signal: null });
    assert.match(fake.stderrText, /ERROR: \*\*\* failed to dequeue buffer \*\*\*/);
    assert.ok(fake.stdout().equals(clip640.subarray(0, bytesOf(units640, 5))));
  });

  test('FAKE_CAMERA_STALL_AFTER=5 stops the output but stays alive', async () => {
    const fake = new Fake('rpicam-vid', STREAM_ARGS, { FAKE_CAMERA_STALL_AFTER: '5' });
    const fiveFrames = bytesOf(units640, 5);
    await fake.untilBytes(fiveFrames);
    // Proving a negative needs a bounded wait: 15 frame intervals pass without output or exit.
    await assert.rejects(
      fake.until('output after the stall', () => fake.stdoutBytes > fiveFrames, 500),
      /timed out/,
    );
    assert.equal(fake.closed, undefined, 'the stalled camera exited');
    assert.deepEqual(await fake.stop(), { code: 0, signal: null });
    assert.equal(fake.stdoutBytes, fiveFrames);
  });

  test('without --inline only the first frame carries SPS/PPS, as on a Pi', async () => {
    const fake = new Fake('rpicam-vid', ['--flush', '-n', '-t', '0', '-o', '-', '--framerate', '300']);
    const expected = Buffer.concat(units640.slice(0, 40).map((u, i) => (i === 0 ? u.data : u.withoutParameterSets)));
    await fake.untilBytes(expected.length);
    await fake.stop();
    const out = fake.stdout().subarray(0, expected.length);
    assert.ok(out.equals(expected));
    const types = findNalUnits(out).map((n) => n.type);
    assert.equal(types.filter((t) => t === 7).length, 1, 'SPS count');
    assert.ok(types.filter((t) => t === 5).length >= 4, 'the IDR at frame 30 is still there');
  });

  test('--list-cameras, --version, --help, and rpicam-vid-like errors', () => {
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync('rpicam-vid', args, { env: envWithFakeCamera(env), encoding: 'utf8', timeout: PATIENCE_MS });

    const list = run(['--list-cameras']);
    assert.equal(list.status, 0);
    assert.match(list.stdout, /^Available cameras\n-----------------\n0 : imx708 \[4608x2592 10-bit RGGB\]/);

    const noCameraList = run(['--list-cameras'], { FAKE_CAMERA_NO_CAMERA: '1' });
    assert.equal(noCameraList.status, 0);
    assert.equal(noCameraList.stdout, 'No cameras available!\n');

    const noCamera = run(STREAM_ARGS, { FAKE_CAMERA_NO_CAMERA: '1' });
    assert.equal(noCamera.status, 255);
    assert.match(noCamera.stderr, /ERROR: \*\*\* no cameras available \*\*\*/);
    assert.equal(noCamera.stdout, '');

    const version = run(['--version']);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^rpicam-apps build: v1\.5\.0 /);

    const help = run(['-h']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Valid options are:[\s\S]*--inline/);

    const unknown = run(['--bogus', '-o', '-']);
    assert.equal(unknown.status, 255);
    assert.match(unknown.stderr, /^ERROR: \*\*\* unrecognised option '--bogus' \*\*\*$/m);

    const badValue = run(['--width', 'wide']);
    assert.notEqual(badValue.status, 0);
    assert.match(badValue.stderr, /the argument \('wide'\) for option '--width' is invalid/);

    const rotated = run(['--rotation', '90', '-o', '-']);
    assert.notEqual(rotated.status, 0);
    assert.match(rotated.stderr, /transforms requiring transpose not supported/);
  });

  test('prints libcamera-style lines on stderr, FAKE_CAMERA_STDERR extra lines, nothing at -v 0', async () => {
    const fake = new Fake('rpicam-vid', ['--inline', '-n', '-t', '100', '-o', '-'], {
      FAKE_CAMERA_STDERR: 'first extra line\\nsecond extra line',
    });
    await fake.ended();
    assert.match(fake.stderrText, /^\[\d+:\d\d:\d\d\.\d{9}\] \[\d+\] {2}INFO Camera camera_manager\.cpp:\d+ libcamera v0\.3/m);
    assert.match(fake.stderrText, /configuring streams: \(0\) 640x480-YUV420/);
    assert.match(fake.stderrText, /^first extra line\nsecond extra line$/m);

    const quiet = new Fake('rpicam-vid', ['--inline', '-n', '-v', '0', '-t', '100', '-o', '-']);
    assert.deepEqual(await quiet.ended(), { code: 0, signal: null });
    assert.equal(quiet.stderrText, '');
  });

  test('picks the clip that matches --width/--height, else the nearest; FAKE_CAMERA_CLIP overrides', async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [[], {}, CLIP_640], // rpicam-vid's default size is 640x480
      [['--width', '1280', '--height', '720'], {}, CLIP_720],
      [['--width', '1920', '--height', '1080'], {}, CLIP_1080],
      [['--width', '1024', '--height', '768'], {}, CLIP_720],
      [[], { FAKE_CAMERA_CLIP: CLIP_1080 }, CLIP_1080],
    ];
    await Promise.all(
      cases.map(async ([args, env, expectedClip]) => {
        const firstFrame = splitAccessUnits(readFileSync(expectedClip))[0]?.data ?? Buffer.alloc(0);
        const fake = new Fake('rpicam-vid', [...STREAM_ARGS, ...args], env);
        await fake.untilBytes(firstFrame.length);
        await fake.stop();
        assert.ok(fake.stdout().subarray(0, firstFrame.length).equals(firstFrame), `${args.join(' ')} ${JSON.stringify(env)}`);
      }),
    );
  });

  test('libcamera-vid is a relative symlink to rpicam-vid and behaves the same', async () => {
    const link = join(FAKE_CAMERA_DIR, 'libcamera-vid');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), 'rpicam-vid');
    const fake = new Fake('libcamera-vid', STREAM_ARGS);
    await fake.untilBytes(bytesOf(units640, 2));
    assert.deepEqual(await fake.stop(), { code: 0, signal: null });
    assert.ok(fake.stdout().subarray(0, bytesOf(units640, 2)).equals(clip640.subarray(0, bytesOf(units640, 2))));
  });

  test('--listen -o tcp://... serves one client and exits when it leaves', async () => {
    // Port 0: the fake prints the port it got, so there is no race for a free port.
    const fake = new Fake('rpicam-vid', ['--inline', '-n', '-t', '0', '--listen', '-o', 'tcp://127.0.0.1:0']);
    const port = Number(
      await fake.until('the listener', () => /Waiting for client to connect\.\.\. \(port (\d+)\)/.exec(fake.stderrText)?.[1]),
    );
    assert.equal(fake.stdoutBytes, 0, 'nothing is streamed before a client connects');

    const client = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let receivedBytes = 0;
    const want = bytesOf(units640, 3);
    const gotFrames = new Promise<void>((resolve) => {
      client.on('data', (b: Buffer) => {
        received.push(b);
        receivedBytes += b.length;
        if (receivedBytes >= want) resolve();
      });
    });
    await within('the first frames over TCP', PATIENCE_MS, gotFrames);
    assert.ok(Buffer.concat(received).subarray(0, want).equals(clip640.subarray(0, want)));

    // Only one client, ever: the listening socket is closed once one is accepted.
    const second = net.connect(port, '127.0.0.1');
    const [err] = (await within('the second connection to fail', PATIENCE_MS, once(second, 'error'))) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');

    client.destroy();
    const result = await fake.ended();
    assert.notEqual(result.code, 0);
    assert.equal(result.signal, null);
    assert.match(fake.stderrText, /ERROR: \*\*\* failed to send data on socket \*\*\*/);
  });

  test('refuses to write video to a terminal unless FAKE_CAMERA_FORCE_TTY=1', { skip: !existsSync('/usr/bin/script') && 'no script(1)' }, () => {
    const result = spawnSync('script', ['-qec', 'rpicam-vid -t 0 --inline -n -o -', '/dev/null'], {
      env: envWithFakeCamera(),
      encoding: 'utf8',
      timeout: PATIENCE_MS,
    });
    assert.equal(result.status, 255);
    assert.match(result.stdout, /refusing to write H\.264 to a terminal/);
  });
});

describe('fake-audio', { concurrency: 2 }, () => {
  const audio = readFileSync(AUDIO_CLIP);
  const frames = splitAdtsFrames(audio);
  const audioBytes = (n: number): number => frames.slice(0, n).reduce((s, f) => s + f.data.length, 0);
  // Any capture command line: fake-audio ignores its arguments.
  const ARGS = ['-f', 'alsa', '-i', 'hw:1,0', '-c:a', 'aac', '-f', 'adts', '-'];

  test('streams ADTS frames in real time, one frame per write, byte for byte', async () => {
    assert.equal(frames[0]?.sampleRate, 48000);
    const log = newLogPath();
    const fake = new Fake('fake-audio', ARGS, { FAKE_AUDIO_WRITE_LOG: log });
    await fake.untilBytes(1);
    const first = fake.chunks[0]?.at ?? 0;
    // 48 frames of 1024 samples at 48 kHz: frame 47 is due 1.0027 s after frame 0.
    await fake.untilBytes(audioBytes(48));
    const elapsedMs = performance.now() - first;
    assert.deepEqual(await fake.stop(), { code: 0, signal: null });
    assert.ok(elapsedMs >= 850 && elapsedMs < 10_000, `48 frames in ${elapsedMs.toFixed(0)} ms`);
    assert.ok(fake.stdout().equals(audio.subarray(0, fake.stdoutBytes)));
    const frameEnds = new Set(frames.map((_, i) => audioBytes(i + 1)));
    let total = 0;
    for (const chunk of fake.chunks) {
      total += chunk.bytes.length;
      if (chunk.bytes.length < READ_CAP) assert.ok(frameEnds.has(total), `a read ended inside an ADTS frame, at byte ${total}`);
    }
    assertNeverEarly(
      readWriteLog(log).map(([, , us]) => us),
      (1024 / 48000) * 1000,
    );
  });

  test('loops the clip', async () => {
    const log = newLogPath();
    // The 44.1 kHz stereo clip is 45 frames (~1 s): the second loop starts within the test's patience.
    const fake = new Fake('fake-audio', ARGS, { FAKE_AUDIO_CLIP: clipPath('tone-44k1-stereo.aac'), FAKE_AUDIO_WRITE_LOG: log });
    const loopBytes = readFileSync(clipPath('tone-44k1-stereo.aac')).length;
    await fake.untilBytes(loopBytes + 1); // the first frame of the second loop has arrived
    await fake.stop();
    const lines = readWriteLog(log);
    assert.deepEqual(lines[45]?.slice(0, 2), [0, 1]);
  });

  test('FAKE_AUDIO_DIE_AFTER=3 exits 1 after three frames; a closed stdout ends it', async () => {
    const dying = new Fake('fake-audio', ARGS, { FAKE_AUDIO_DIE_AFTER: '3' });
    assert.deepEqual(await dying.ended(), { code: 1, signal: null });
    assert.ok(dying.stdout().equals(audio.subarray(0, audioBytes(3))));
    assert.match(dying.stderrText, /Input\/output error/);

    const orphaned = new Fake('fake-audio', ARGS);
    await orphaned.untilBytes(1);
    orphaned.child.stdout.destroy();
    const result = await orphaned.ended();
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(orphaned.stderrText, /at .*\.mjs|node:internal/);
  });
});
