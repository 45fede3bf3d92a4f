import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getTableConfig as pgTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import * as pgSchema from './pg-schema.ts';
import * as sqliteSchema from './schema.ts';

/**
 * The query helpers are written once, against pg-schema.ts, and SQLite runs them on schema.ts's
 * tables (db/client.ts): the two must name the same tables and columns, with the same nullability,
 * primary keys and unique columns. Only with Postgres: signing_keys (SQLite keeps keys in files).
 * Only in SQLite: the recording index (always the node's own).
 */

const PG_ONLY = new Set(['signing_keys']);
const SQLITE_ONLY = new Set(['recording_segments', 'recording_fragments']);

interface Shape {
  columns: Record<string, { notNull: boolean; primary: boolean; unique: boolean }>;
  primaryKey: string[];
}

function pgShapes(): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const table of Object.values(pgSchema)) {
    if (!(table instanceof PgTable)) continue;
    const config = pgTableConfig(table);
    shapes.set(config.name, {
      columns: Object.fromEntries(config.columns.map((c) => [c.name, { notNull: c.notNull, primary: c.primary, unique: c.isUnique }])),
      primaryKey: config.primaryKeys.flatMap((k) => k.columns.map((c) => c.name)),
    });
  }
  return shapes;
}

function sqliteShapes(): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  for (const table of Object.values(sqliteSchema)) {
    if (!(table instanceof SQLiteTable)) continue;
    const config = sqliteTableConfig(table);
    shapes.set(config.name, {
      columns: Object.fromEntries(config.columns.map((c) => [c.name, { notNull: c.notNull, primary: c.primary, unique: c.isUnique }])),
      primaryKey: config.primaryKeys.flatMap((k) => k.columns.map((c) => c.name)),
    });
  }
  return shapes;
}

test('schema.ts and pg-schema.ts describe the same registry tables', () => {
  const pg = pgShapes();
  const sqlite = sqliteShapes();
  assert.deepEqual(
    [...pg.keys()].filter((name) => !PG_ONLY.has(name)).sort(),
    [...sqlite.keys()].filter((name) => !SQLITE_ONLY.has(name)).sort(),
  );
  for (const [name, shape] of pg) {
    if (PG_ONLY.has(name)) continue;
    assert.deepEqual(shape, sqlite.get(name), `table ${name}`);
  }
});
