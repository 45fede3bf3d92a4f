import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/**
 * Bench helper processes (receivers, publishers, sinks, the floor server) are TypeScript run
 * through tsx, driven over Node's IPC channel with small JSON messages.
 */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Helper {
  child: ChildProcess;
  /** sends a message and resolves with the next reply of type `reply` */
  request<T>(message: Record<string, unknown>, reply: string, timeoutMs?: number): Promise<T>;
  next<T>(type: string, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export function startHelper(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Helper {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: Array<{ type: string }> = [];
  const waiters: Array<{ type: string; resolve: (m: unknown) => void }> = [];
  child.on('message', (m: { type: string }) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  const exited = once(child, 'exit');

  function next<T>(type: string, timeoutMs = 60_000): Promise<T> {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as T);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${script}: no '${type}' in ${timeoutMs} ms`)), timeoutMs);
      const onExit = () => reject(new Error(`${script} exited (${child.exitCode ?? child.signalCode}) while waiting for '${type}'`));
      void exited.then(onExit);
      waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as T);
        },
      });
    });
  }

  return {
    child,
    next,
    request<T>(message: Record<string, unknown>, reply: string, timeoutMs?: number) {
      const answer = next<T>(reply, timeoutMs);
      child.send(message);
      return answer;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** For helper scripts: a typed IPC send. */
export function reply(message: Record<string, unknown> & { type: string }): void {
  process.send?.(message);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
