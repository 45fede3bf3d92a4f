import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * `picam-agent run` (or any subcommand) as a real child process, the way a Pi runs it:
 * `node --import tsx edge-agent/src/cli.ts ...`. Its JSON log lines are parsed and can be awaited.
 */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class AgentProcess extends EventEmitter {
  readonly child: ChildProcess;
  readonly logs: LogRecord[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `stdin`: written to the child's standard input, which is then closed (e.g. `enroll --token -`) */
  constructor(args: string[], env: NodeJS.ProcessEnv, options: { stdin?: string } = {}) {
    super();
    this.setMaxListeners(100);
    this.child = spawn(process.execPath, ['--import', 'tsx', 'edge-agent/src/cli.ts', ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (options.stdin !== undefined) this.child.stdin!.end(options.stdin);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.logs.push(JSON.parse(line) as LogRecord);
      } catch {
        this.logs.push({ level: 30, msg: line });
      }
      this.emit('change');
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      this.emit('change');
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resident set size in KiB (Linux /proc), or NaN when unavailable. */
  rssKiB(): number {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return match ? Number(match[1]) : Number.NaN;
    } catch {
      return Number.NaN;
    }
  }

  /** Resolves with the first log record matching; rejects after timeoutMs or if the agent exits. */
  waitForLog(match: (record: LogRecord) => boolean, timeoutMs: number, what: string): Promise<LogRecord> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const evaluate = () => {
        for (; seen < this.logs.length; seen++) {
          const record = this.logs[seen]!;
          if (match(record)) {
            cleanup();
            resolve(record);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for agent log: ${what}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`agent exited while waiting for: ${what}\n${this.stderr.join('\n')}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.off('change', evaluate);
        this.child.off('exit', onExit);
      };
      this.on('change', evaluate);
      this.child.once('exit', onExit);
      evaluate();
    });
  }

  /** Sends a signal and resolves with how it exited (kills it for good after timeoutMs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 8000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

/**
 * Short delays so recovery is real but quick: a 1 s reconnect cap instead of 30 s, a 1.5 s stall
 * timeout instead of 3 s. The 4009/4001 delays keep their defaults unless a test overrides them.
 */
export const TEST_TUNING = [
  'reconnectMinMs=200',
  'reconnectMaxMs=1000',
  'cameraRestartMinMs=200',
  'cameraRestartMaxMs=1000',
  'stallTimeoutMs=1500',
  'statsIntervalMs=500',
  'demandGraceMs=1500',
].join(',');

/** Frees the agent's child processes' env from anything the developer's shell set for a real agent. */
export function cleanAgentEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const key of ['PICAM_RELAY', 'PICAM_DEVICE_TOKEN', 'PICAM_AGENT_CONFIG', 'PICAM_CAMERA_COMMAND', 'PICAM_AGENT_TUNING', 'LOG_LEVEL']) delete copy[key];
  return copy;
}
