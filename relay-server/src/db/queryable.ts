import type { Db } from './client.ts';

/** The database or a transaction on it: every query helper accepts both, so callers can compose them atomically. */
export type Queryable = Db | Parameters<Parameters<Db['transaction']>[0]>[0];
