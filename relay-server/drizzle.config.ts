import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './relay-server/src/db/schema.ts',
  out: './migrations',
});
