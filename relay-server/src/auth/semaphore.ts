/**
 * Caps concurrent expensive work (scrypt at N=2^17 needs ~128 MiB and ~100+ ms of a core each):
 * without it, a burst of logins could exhaust memory. Waiters beyond `maxQueue` are refused at
 * once rather than piling up.
 */
export class Semaphore {
  readonly #limit: number;
  readonly #maxQueue: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number, maxQueue: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('Semaphore limit must be a positive integer');
    this.#limit = limit;
    this.#maxQueue = maxQueue;
  }

  /** Runs `task` once a slot is free; throws `SemaphoreFullError` when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#limit) {
      if (this.#waiting.length >= this.#maxQueue) throw new SemaphoreFullError();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter (active count unchanged) or release it.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

export class SemaphoreFullError extends Error {
  override readonly name = 'SemaphoreFullError';
  constructor() {
    super('too many concurrent operations queued');
  }
}
