import type { TestContext } from 'node:test';
import { natsOrSkip, type TestNats } from './nats.ts';
import { postgresOrSkip, type TestPostgres } from './postgres.ts';
import { startRelayProcess, type RelayProcess } from './relay-process.ts';

/**
 * Relay nodes of one cluster for a test: a throwaway Postgres database and a nats-server shared by
 * every node `start` makes; all are stopped when the test ends. Null (skipped, or failed under CI)
 * when nats-server or Postgres is not installed.
 */
export interface TestCluster {
  pg: TestPostgres;
  nats: TestNats;
  databaseUrl: string;
  /** a relay node named `nodeId`; `env` adds to (or overrides) the cluster's settings */
  start(nodeId: string, env?: Record<string, string>): Promise<RelayProcess>;
}

export async function clusterOrSkip(t: TestContext): Promise<TestCluster | null> {
  const pg = await postgresOrSkip(t);
  const nats = await natsOrSkip(t);
  if (!pg || !nats) return null;
  const databaseUrl = await pg.createDatabase();
  const relays: RelayProcess[] = [];
  t.after(() => Promise.all(relays.map((r) => r.stop('SIGKILL'))));
  return {
    pg,
    nats,
    databaseUrl,
    async start(nodeId, env = {}) {
      const relay = await startRelayProcess({ DATABASE_URL: databaseUrl, NATS_URL: nats.url, NODE_ID: nodeId, ...env });
      relays.push(relay);
      return relay;
    },
  };
}
