import type { EventEmitter } from 'node:events';

/**
 * Resolves with the first truthy value of `check`, evaluated now and after every 'change' event
 * the emitter raises; rejects after `timeoutMs` with `describeTimeout()` (a failure guard, not a
 * wait: the test goes on the moment the condition holds).
 */
export function waitForChange<T>(
  emitter: EventEmitter,
  check: () => T | undefined | null | false,
  timeoutMs: number,
  describeTimeout: () => string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const evaluate = () => {
      const value = check();
      if (value === undefined || value === null || value === false) return;
      cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(describeTimeout()));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off('change', evaluate);
    };
    emitter.on('change', evaluate);
    evaluate();
  });
}
