import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CameraProcessStatus, ProtocolError } from '@picam/protocol';
import { Backoff } from './backoff.ts';
import type { CaptureClock } from './clock.ts';
import type { Tuning } from './config.ts';
import { FrameReader, type CapturedFrame } from './frame-reader.ts';
import type { Logger } from './logger.ts';
import type { AgentStats } from './stats.ts';

export interface CameraSupervisorOptions {
  /** Looked up again before every start: installing rpicam-vid later needs no agent restart. */
  resolveCommand: () => string | null;
  /** Read before every start, so new settings apply on the next (re)start. */
  args: () => string[];
  env?: NodeJS.ProcessEnv;
  log: Logger;
  stats: AgentStats;
  clock: CaptureClock;
  tuning: Pick<Tuning, 'stallTimeoutMs' | 'cameraRestartMinMs' | 'cameraRestartMaxMs' | 'flushDelayMs'>;
  onFrame: (frame: CapturedFrame) => void;
  onStatus?: (status: CameraProcessStatus) => void;
}

/** A run that produced frames for this long was healthy: its exit starts the backoff over. */
const HEALTHY_RUN_MS = 30_000;
/** After this many failed starts in a row (no frame at all) the status says failed, not restarting. */
const FAILED_AFTER_ATTEMPTS = 5;
/** SIGTERM first; a camera that ignores it for this long gets SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** libcamera takes a moment to open the sensor: the first frame gets longer than the stall timeout. */
const FIRST_FRAME_TIMEOUT_MS = 10_000;

interface Run {
  child: ChildProcess;
  reader: FrameReader;
  startedAt: number;
  firstFrameAt: number | null;
  lastFrameAt: number | null;
  stallTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  /** the exit was asked for by restart(): start again at once, no backoff */
  restartNow: boolean;
  lastStderr: string | null;
}

/**
 * Keeps the camera process alive, independently of the network: it is started, restarted with
 * exponential backoff when it exits, and killed and restarted when it stalls (no frame for
 * ~3 s: a wedged libcamera pipeline is a known failure mode). Only stop() ends it.
 *
 * The camera runs in its own process group so a wrapper script and its children die together.
 */
export class CameraSupervisor {
  private readonly options: CameraSupervisorOptions;
  private readonly backoff: Backoff;
  private current: Run | null = null;
  private wanted = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private failedStarts = 0;
  private stopWaiters: Array<() => void> = [];
  private statusValue: CameraProcessStatus = 'idle';
  /** the command last run, for hello and check */
  command: string | null = null;

  constructor(options: CameraSupervisorOptions) {
    this.options = options;
    this.backoff = new Backoff({ initialMs: options.tuning.cameraRestartMinMs, maxMs: options.tuning.cameraRestartMaxMs });
  }

  get status(): CameraProcessStatus {
    return this.statusValue;
  }

  get running(): boolean {
    return this.current !== null;
  }

  /** Idempotent. */
  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.backoff.reset();
    this.failedStarts = 0;
    if (this.current === null && this.restartTimer === undefined) this.spawnCamera();
  }

  /** Resolves once the process has exited (or at once if none runs). */
  stop(): Promise<void> {
    this.wanted = false;
    this.clearRestartTimer();
    const run = this.current;
    if (run === null) {
      this.setStatus('idle');
      return Promise.resolve();
    }
    run.restartNow = false;
    const exited = new Promise<void>((resolve) => this.stopWaiters.push(resolve));
    this.kill(run);
    return exited;
  }

  /** New settings: restart now with fresh arguments (not counted as a failure). */
  restart(reason: string): void {
    if (!this.wanted) return;
    this.options.log.info({ reason }, 'restarting the camera');
    if (this.current !== null) {
      this.current.restartNow = true;
      this.kill(this.current);
    } else {
      this.clearRestartTimer();
      this.spawnCamera();
    }
  }

  private spawnCamera(): void {
    this.clearRestartTimer();
    const { log, tuning } = this.options;
    const command = this.options.resolveCommand();
    if (command === null) {
      this.fail('no camera command found: install rpicam-apps (rpicam-vid) or pass --camera-command');
      return;
    }
    const args = this.options.args();
    this.command = command;
    this.setStatus('starting');
    log.info({ command, args }, 'starting the camera');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.options.env ?? process.env, detached: true });
    } catch (error) {
      this.fail(`cannot start ${command}: ${(error as Error).message}`);
      return;
    }
    const reader = new FrameReader({
      clock: this.options.clock,
      stats: this.options.stats,
      flushDelayMs: tuning.flushDelayMs,
      onFrame: (frame) => this.onFrame(run, frame),
      onOversize: (error: ProtocolError) => log.warn({ err: error.message }, 'camera frame over the size cap dropped'),
    });
    const run: Run = {
      child,
      reader,
      startedAt: performance.now(),
      firstFrameAt: null,
      lastFrameAt: null,
      stallTimer: undefined,
      killTimer: undefined,
      restartNow: false,
      lastStderr: null,
    };
    this.current = run;
    run.stallTimer = setTimeout(() => this.onStall(run), Math.max(FIRST_FRAME_TIMEOUT_MS, tuning.stallTimeoutMs));

    child.stdout?.on('data', (chunk: Buffer) => run.reader.push(chunk));
    child.stdout?.on('end', () => run.reader.end());
    if (child.stderr) {
      createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => this.onStderr(run, line));
    }
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      this.onEnded(run, code, signal, error);
    };
    child.on('error', (error) => end(null, null, error));
    child.on('close', (code, signal) => end(code, signal));
  }

  private onFrame(run: Run, frame: CapturedFrame): void {
    if (run !== this.current) return;
    run.lastFrameAt = performance.now();
    if (run.firstFrameAt === null) {
      run.firstFrameAt = performance.now();
      this.failedStarts = 0;
      this.options.log.info({ startupMs: Math.round(run.firstFrameAt - run.startedAt) }, 'camera running');
      // The first timer allowed for start-up; from now on the (shorter) stall timeout applies.
      clearTimeout(run.stallTimer);
      run.stallTimer = setTimeout(() => this.onStall(run), this.options.tuning.stallTimeoutMs);
    } else {
      run.stallTimer?.refresh();
    }
    if (this.statusValue !== 'running') this.setStatus('running');
    this.options.onFrame(frame);
  }

  private onStall(run: Run): void {
    if (run !== this.current) return;
    const silentMs = Math.round(performance.now() - (run.lastFrameAt ?? run.startedAt));
    this.options.stats.lastError = run.firstFrameAt === null ? `camera produced no frame in ${silentMs} ms` : `camera stalled: no frame for ${silentMs} ms`;
    this.options.log.warn({ silentMs, pid: run.child.pid }, 'camera stalled, restarting it');
    this.setStatus('stalled');
    this.kill(run);
  }

  private onStderr(run: Run, line: string): void {
    const text = line.length > 500 ? `${line.slice(0, 500)}…` : line;
    // rpicam-vid prints one "#123 (30.00 fps) exp ..." line per frame at higher verbosity: debug only.
    if (/^#\d+ \(/.test(text)) {
      this.options.log.debug({ camera: text }, 'camera');
      return;
    }
    if (text.trim() !== '') run.lastStderr = text;
    this.options.log.info({ camera: text }, 'camera');
  }

  private kill(run: Run): void {
    if (run.killTimer !== undefined) return;
    signalGroup(run.child, 'SIGTERM');
    run.killTimer = setTimeout(() => {
      this.options.log.warn({ pid: run.child.pid }, 'camera ignored SIGTERM, killing it');
      signalGroup(run.child, 'SIGKILL');
    }, KILL_GRACE_MS);
  }

  private onEnded(run: Run, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    clearTimeout(run.stallTimer);
    clearTimeout(run.killTimer);
    run.reader.close();
    if (this.current === run) this.current = null;
    const { log, stats } = this.options;

    if (!this.wanted) {
      log.info({ code, signal }, 'camera stopped');
      this.setStatus('idle');
      for (const resolve of this.stopWaiters.splice(0)) resolve();
      return;
    }
    if (run.restartNow) {
      stats.cameraRestarts += 1;
      this.spawnCamera();
      return;
    }
    const healthyFor = run.firstFrameAt === null ? 0 : performance.now() - run.firstFrameAt;
    if (healthyFor >= HEALTHY_RUN_MS) this.backoff.reset();
    if (run.firstFrameAt === null) this.failedStarts += 1;
    const why = error
      ? `camera could not start: ${error.message}`
      : `camera exited (${signal === null ? `code ${code}` : signal})${run.lastStderr === null ? '' : `: ${run.lastStderr}`}`;
    stats.lastError = why;
    const delayMs = this.backoff.next();
    const failed = error !== undefined || this.failedStarts >= FAILED_AFTER_ATTEMPTS;
    this.setStatus(failed ? 'failed' : 'restarting');
    log.warn({ code, signal, delayMs, failedStarts: this.failedStarts }, `${why}; restarting in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      stats.cameraRestarts += 1;
      this.spawnCamera();
    }, delayMs);
  }

  private fail(message: string): void {
    this.options.stats.lastError = message;
    this.setStatus('failed');
    const delayMs = this.backoff.next();
    this.options.log.error({ delayMs }, `${message}; retrying in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.wanted) this.spawnCamera();
    }, delayMs);
  }

  private clearRestartTimer(): void {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }

  private setStatus(status: CameraProcessStatus): void {
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.options.onStatus?.(status);
  }
}

/** Signals the camera's whole process group (it was spawned detached), falling back to the process. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}
