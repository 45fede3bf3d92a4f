import { ApiError } from '../errors.ts';

/**
 * "The registry cannot answer right now" (Postgres down, unreachable or out of connections), told
 * apart from every other failure: requests answer 503 `database_unavailable`, and live sockets are
 * not cut for it (a stream running when Postgres went away goes on).
 */

/** libpq/pg error classes and Node socket errors that mean "no database to talk to". */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0)/;
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end|connection timeout|Connection ended/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof ApiError) return e.code === 'database_unavailable';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE_CODES.has(code))) return true;
    if (UNAVAILABLE_MESSAGES.test(e.message)) return true;
  }
  return false;
}

export const databaseUnavailable = () =>
  new ApiError(503, 'database_unavailable', 'the relay cannot reach its database right now: try again shortly', 5);

/**
 * Postgres refuses text with a NUL character (SQLSTATE 22021), which SQLite stores: input the
 * relay cannot keep is the client's mistake (400), on either dialect's relay.
 */
export function isUnstorableText(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === '22021') return true;
  }
  return false;
}

export const unstorableText = () => new ApiError(400, 'validation_failed', 'text must not contain NUL characters');
