import { defineConfig } from 'drizzle-kit';

/** The registry's Postgres migrations (DATABASE_URL); the SQLite ones are drizzle.config.ts's. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './relay-server/src/db/pg-schema.ts',
  out: './migrations/postgres',
});
