import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { CameraProcessStatus } from '@picam/protocol';
import { Backoff } from './backoff.ts';
import { openCaptureSocket, type CaptureSocket } from './capture-socket.ts';
import type { Logger } from './logger.ts';

/** What to run next; looked up before every start so a fixed PATH or new settings need no agent restart. */
export type SupervisedCommand = { command: string; args: string[] } | { error: string };

/** One run's reader of stdout: a fresh one per process, so a restart never glues two streams together. */
export interface OutputSink {
  /** With `readBufferBytes` set, `chunk` is a view of a reused buffer: copy what must outlive the call. */
  push(chunk: Uint8Array): void;
  /** stdout ended: whatever is pending is complete */
  end(): void;
  /** the process is gone: discard what is pending */
  close(): void;
}

export interface SupervisedProcessOptions {
  /** for log lines and errors: "camera", "audio" */
  name: string;
  resolve: () => SupervisedCommand;
  env?: NodeJS.ProcessEnv;
  log: Logger;
  restartMinMs: number;
  restartMaxMs: number;
  /** no output unit for this long: stalled, killed and restarted */
  stallTimeoutMs: number;
  /** the first unit may take longer (a sensor or sound card opening) */
  firstOutputTimeoutMs: number;
  /** what the stall errors call the missing output ("no frame"); default "nothing" */
  missingOutput?: string;
  /** Called at every spawn; the sink reports complete units through SupervisedProcess.output(). */
  createSink: (run: SupervisedRun) => OutputSink;
  onStatus?: (status: CameraProcessStatus) => void;
  /** an exit or failure that will be retried, in words for stats.lastError */
  onError?: (message: string) => void;
  /** each (re)start after the first */
  onRestart?: () => void;
  /** stderr lines this returns true for are logged at debug (per-frame progress chatter) */
  quietStderr?: (line: string) => boolean;
  /**
   * Read stdout into one reused buffer of this size (a CaptureSocket) instead of a fresh buffer
   * per read: for a high-rate stream such as video. The sink must then copy what it keeps.
   */
  readBufferBytes?: number;
}

/** A run that produced output for this long was healthy: its exit starts the backoff over. */
const HEALTHY_RUN_MS = 30_000;
/** After this many failed starts in a row (no output at all) the status says failed, not restarting. */
const FAILED_AFTER_ATTEMPTS = 5;
/** SIGTERM first; a process that ignores it for this long gets SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** After the process is gone, its last bytes may still be in the capture socket: read them first, briefly. */
const DRAIN_AFTER_EXIT_MS = 1_000;

export interface SupervisedRun {
  readonly child: ChildProcess;
  readonly startedAt: number;
}

interface Run extends SupervisedRun {
  sink: OutputSink;
  firstOutputAt: number | null;
  lastOutputAt: number | null;
  stallTimer: NodeJS.Timeout | undefined;
  killTimer: NodeJS.Timeout | undefined;
  restartNow: boolean;
  lastStderr: string | null;
}

/**
 * Keeps one capture process alive, independently of everything else in the agent: started,
 * restarted with exponential backoff when it exits, killed and restarted when it stops producing
 * output, until stop(). The process runs in its own process group (a `sh -c` pipeline, a wrapper
 * script and their children die together). Used by the camera and the audio source, so both
 * recover the same way; what they capture and how it counts stays with them (sink and hooks).
 */
export class SupervisedProcess {
  private readonly options: SupervisedProcessOptions;
  private readonly backoff: Backoff;
  private current: Run | null = null;
  private wanted = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private failedStarts = 0;
  private stopWaiters: Array<() => void> = [];
  /** a capture socket is being opened: the process starts (with fresh arguments) once it is */
  private opening = false;
  private statusValue: CameraProcessStatus = 'idle';
  /** the command last run */
  command: string | null = null;

  constructor(options: SupervisedProcessOptions) {
    this.options = options;
    this.backoff = new Backoff({ initialMs: options.restartMinMs, maxMs: options.restartMaxMs });
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
    if (this.current === null && this.restartTimer === undefined) this.spawnRun();
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

  /** Restart now (new settings), not counted as a failure. */
  restart(reason: string): void {
    if (!this.wanted) return;
    this.options.log.info({ reason }, `restarting the ${this.options.name}`);
    if (this.current !== null) {
      this.current.restartNow = true;
      this.kill(this.current);
    } else {
      this.clearRestartTimer();
      this.spawnRun();
    }
  }

  /** The sink of `run` completed a unit (a frame): the process is alive. False if the run is stale. */
  output(run: SupervisedRun): boolean {
    if (run !== this.current) return false;
    const current = this.current;
    current.lastOutputAt = performance.now();
    if (current.firstOutputAt === null) {
      current.firstOutputAt = current.lastOutputAt;
      this.failedStarts = 0;
      this.options.log.info({ startupMs: Math.round(current.firstOutputAt - current.startedAt) }, `${this.options.name} running`);
      // The first timer allowed for start-up; from now on the (shorter) stall timeout applies.
      clearTimeout(current.stallTimer);
      current.stallTimer = setTimeout(() => this.onStall(current), this.options.stallTimeoutMs);
    } else {
      current.stallTimer?.refresh();
    }
    if (this.statusValue !== 'running') this.setStatus('running');
    return true;
  }

  private spawnRun(): void {
    this.clearRestartTimer();
    if (this.opening) return; // the start under way reads the command and arguments afresh
    const bufferBytes = this.options.readBufferBytes;
    if (bufferBytes === undefined) {
      this.launch(null);
      return;
    }
    this.opening = true;
    let sink: OutputSink | null = null;
    openCaptureSocket(bufferBytes, (chunk) => sink?.push(chunk)).then(
      (socket) => {
        this.opening = false;
        if (!this.wanted) {
          socket.destroy();
          return;
        }
        sink = this.launch(socket);
      },
      (error: Error) => {
        this.opening = false;
        if (this.wanted) this.fail(`cannot open a socket for the ${this.options.name}'s output: ${error.message}`);
      },
    );
  }

  /** Starts the process; returns the run's sink, or null if it could not start. */
  private launch(socket: CaptureSocket | null): OutputSink | null {
    const { log, name } = this.options;
    const resolved = this.options.resolve();
    if ('error' in resolved) {
      socket?.destroy();
      this.fail(resolved.error);
      return null;
    }
    const { command, args } = resolved;
    this.command = command;
    this.setStatus('starting');
    log.info({ command, args }, `starting the ${name}`);
    let child: ChildProcess;
    try {
      child = spawn(command, args, { stdio: ['ignore', socket?.childEnd ?? 'pipe', 'pipe'], env: this.options.env ?? process.env, detached: true });
    } catch (error) {
      socket?.destroy();
      this.fail(`cannot start ${command}: ${(error as Error).message}`);
      return null;
    } finally {
      // The child has its own copy now; ours would keep the socket open after the child exits.
      socket?.releaseChildEnd();
    }
    const base: SupervisedRun = { child, startedAt: performance.now() };
    const run: Run = {
      ...base,
      sink: { push: () => {}, end: () => {}, close: () => {} },
      firstOutputAt: null,
      lastOutputAt: null,
      stallTimer: undefined,
      killTimer: undefined,
      restartNow: false,
      lastStderr: null,
    };
    this.current = run;
    run.sink = this.options.createSink(run);
    run.stallTimer = setTimeout(() => this.onStall(run), Math.max(this.options.firstOutputTimeoutMs, this.options.stallTimeoutMs));

    // With a capture socket, the output ends when the socket does (the child's 'close' does not
    // wait for a stream it does not own): the run ends once both are done, or the grace is over.
    let outputDone: Promise<void>;
    if (socket === null) {
      child.stdout?.on('data', (chunk: Buffer) => run.sink.push(chunk));
      child.stdout?.on('end', () => run.sink.end());
      outputDone = Promise.resolve();
    } else {
      socket.reader.on('end', () => run.sink.end());
      socket.reader.on('error', () => {}); // a reset socket ends the run like a closed one
      outputDone = new Promise((resolve) => socket.reader.once('close', () => resolve()));
    }
    if (child.stderr) createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => this.onStderr(run, line));
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (ended) return;
      ended = true;
      let grace: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((resolve) => (grace = setTimeout(resolve, DRAIN_AFTER_EXIT_MS)));
      void Promise.race([outputDone, drained]).then(() => {
        clearTimeout(grace);
        socket?.destroy();
        this.onEnded(run, code, signal, error);
      });
    };
    child.on('error', (error) => end(null, null, error));
    child.on('close', (code, signal) => end(code, signal));
    return run.sink;
  }

  private onStall(run: Run): void {
    if (run !== this.current) return;
    const { name, log } = this.options;
    const silentMs = Math.round(performance.now() - (run.lastOutputAt ?? run.startedAt));
    const missing = this.options.missingOutput ?? 'nothing';
    this.options.onError?.(run.firstOutputAt === null ? `${name} produced ${missing} in ${silentMs} ms` : `${name} stalled: ${missing} for ${silentMs} ms`);
    log.warn({ silentMs, pid: run.child.pid }, `${name} stalled, restarting it`);
    this.setStatus('stalled');
    this.kill(run);
  }

  private onStderr(run: Run, line: string): void {
    const text = line.length > 500 ? `${line.slice(0, 500)}…` : line;
    const field = { [this.options.name]: text };
    if (this.options.quietStderr?.(text) === true) {
      this.options.log.debug(field, this.options.name);
      return;
    }
    if (text.trim() !== '') run.lastStderr = text;
    this.options.log.info(field, this.options.name);
  }

  private kill(run: Run): void {
    if (run.killTimer !== undefined) return;
    signalGroup(run.child, 'SIGTERM');
    run.killTimer = setTimeout(() => {
      this.options.log.warn({ pid: run.child.pid }, `${this.options.name} ignored SIGTERM, killing it`);
      signalGroup(run.child, 'SIGKILL');
    }, KILL_GRACE_MS);
  }

  private onEnded(run: Run, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    clearTimeout(run.stallTimer);
    clearTimeout(run.killTimer);
    run.sink.close();
    if (this.current === run) this.current = null;
    const { log, name } = this.options;

    if (!this.wanted) {
      log.info({ code, signal }, `${name} stopped`);
      this.setStatus('idle');
      for (const resolve of this.stopWaiters.splice(0)) resolve();
      return;
    }
    if (run.restartNow) {
      this.options.onRestart?.();
      this.spawnRun();
      return;
    }
    const healthyFor = run.firstOutputAt === null ? 0 : performance.now() - run.firstOutputAt;
    if (healthyFor >= HEALTHY_RUN_MS) this.backoff.reset();
    if (run.firstOutputAt === null) this.failedStarts += 1;
    const why = error
      ? `${name} could not start: ${error.message}`
      : `${name} exited (${signal === null ? `code ${code}` : signal})${run.lastStderr === null ? '' : `: ${run.lastStderr}`}`;
    this.options.onError?.(why);
    const delayMs = this.backoff.next();
    const failed = error !== undefined || this.failedStarts >= FAILED_AFTER_ATTEMPTS;
    this.setStatus(failed ? 'failed' : 'restarting');
    log.warn({ code, signal, delayMs, failedStarts: this.failedStarts }, `${why}; restarting in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.options.onRestart?.();
      this.spawnRun();
    }, delayMs);
  }

  private fail(message: string): void {
    this.options.onError?.(message);
    this.setStatus('failed');
    const delayMs = this.backoff.next();
    this.options.log.error({ delayMs }, `${message}; retrying in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.wanted) this.spawnRun();
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

/** Signals the process's whole group (it was spawned detached), falling back to the process. */
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
