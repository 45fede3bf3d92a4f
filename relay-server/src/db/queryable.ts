import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { Db } from './client.ts';
import type * as pgSchema from './pg-schema.ts';

/**
 * The registry or a transaction on it (db/client.ts `transaction`): every registry query helper
 * accepts both, so callers compose them atomically. Typed as Postgres; SQLite runs the same code.
 */
export type Queryable = PgDatabase<NodePgQueryResultHKT, typeof pgSchema>;

/** This node's SQLite (the recording index) or a transaction on it: synchronous. */
export type IndexQueryable = Db | Parameters<Parameters<Db['transaction']>[0]>[0];
