import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing with scrypt from node:crypto at OWASP's minimum (N=2^17, r=8, p=1).
 * Stored as `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`, so a hash keeps verifying
 * if the cost is raised later. That needs ~128 MiB per hash: `maxmem` is raised to 256 MiB
 * (Node's 32 MiB default throws) and a semaphore caps concurrent hashes.
 */

export const PRODUCTION_SCRYPT_LOG2N = 17;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const MAXMEM = 256 * 1024 * 1024;
const CONCURRENCY = 2;
const MAX_QUEUE = 64;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** false for a wrong password or a malformed stored hash; never throws for those */
  verify(password: string, stored: string): Promise<boolean>;
  /** verifies against a throwaway hash, so an unknown username costs as much time as a known one */
  verifyDummy(password: string): Promise<void>;
}

export interface PasswordHasherOptions {
  /** log2 of scrypt's N. Production: 17. Tests may lower it through createAccounts' test-only option. */
  log2N?: number;
}

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

interface ParsedHash {
  log2N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

// Bounds keep a corrupted row from asking for gigabytes of memory.
function parse(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [log2N, r, p] = parts.slice(1, 4).map(Number);
  if (log2N === undefined || r === undefined || p === undefined) return undefined;
  if (!Number.isInteger(log2N) || log2N < 1 || log2N > 20) return undefined;
  if (!Number.isInteger(r) || r < 1 || r > 16 || !Number.isInteger(p) || p < 1 || p > 4) return undefined;
  const salt = Buffer.from(parts[4] ?? '', 'base64url');
  const key = Buffer.from(parts[5] ?? '', 'base64url');
  if (salt.length < 8 || key.length !== KEY_BYTES) return undefined;
  return { log2N, r, p, salt, key };
}

export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  const log2N = options.log2N ?? PRODUCTION_SCRYPT_LOG2N;
  if (!Number.isInteger(log2N) || log2N < 1 || log2N > 20) throw new RangeError('scrypt log2N must be 1..20');
  const gate = new Semaphore(CONCURRENCY, MAX_QUEUE);
  const dummy = `scrypt$${log2N}$${R}$${P}$${randomBytes(SALT_BYTES).toString('base64url')}$${randomBytes(KEY_BYTES).toString('base64url')}`;

  async function verify(password: string, stored: string): Promise<boolean> {
    const parsed = parse(stored);
    if (!parsed) return false;
    const key = await gate.run(() =>
      derive(password, parsed.salt, { N: 2 ** parsed.log2N, r: parsed.r, p: parsed.p, maxmem: MAXMEM }),
    );
    return timingSafeEqual(key, parsed.key);
  }

  return {
    async hash(password) {
      const salt = randomBytes(SALT_BYTES);
      const key = await gate.run(() => derive(password, salt, { N: 2 ** log2N, r: R, p: P, maxmem: MAXMEM }));
      return `scrypt$${log2N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`;
    },
    verify,
    async verifyDummy(password) {
      await verify(password, dummy);
    },
  };
}

/** A strong generated password (admin bootstrap, `users add` without a password): 144 bits. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * Caps concurrent expensive work (scrypt at N=2^17 needs ~128 MiB and ~100+ ms of a core each):
 * without it, a burst of logins could exhaust memory. Waiters beyond `maxQueue` are refused at
 * once rather than piling up.
 */
class Semaphore {
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
