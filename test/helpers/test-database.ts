import { after } from 'node:test';
import { startPostgres, type TestPostgres } from './postgres.ts';

/**
 * Which registry the accounts and relay tests run on: SQLite (default) or, with
 * PICAM_TEST_DATABASE=postgres, Postgres: one throwaway server per test process (postgres.ts),
 * a fresh database for every harness or relay that asks. The server stops when the process's
 * tests are done (a root-level `after`, registered when this module is imported with that setting).
 */

export type TestDialect = 'sqlite' | 'postgres';

export function testDialect(): TestDialect {
  const value = process.env.PICAM_TEST_DATABASE ?? 'sqlite';
  if (value !== 'sqlite' && value !== 'postgres') throw new Error(`PICAM_TEST_DATABASE: sqlite or postgres, not ${value}`);
  return value;
}

let server: Promise<TestPostgres> | undefined;

// Only then: outside a test run (the bench imports relay-process.ts) a root hook would start one.
if (testDialect() === 'postgres') {
  after(async () => {
    const started = server;
    server = undefined;
    if (started) await (await started).close();
  });
}

/** The shared throwaway Postgres of this test process, started on first use. */
export function testPostgres(): Promise<TestPostgres> {
  server ??= startPostgres();
  return server;
}

/** DATABASE_URL for one more registry under test: undefined (SQLite in DATA_DIR) or a fresh Postgres database. */
export async function testDatabaseUrl(dialect: TestDialect = testDialect()): Promise<string | undefined> {
  if (dialect === 'sqlite') return undefined;
  return (await testPostgres()).createDatabase();
}
