import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startNats, natsOrSkip } from './helpers/nats.ts';
import { postgresOrSkip } from './helpers/postgres.ts';
import { startRelayProcess, type RelayProcess } from './helpers/relay-process.ts';

/**
 * A NATS server that asks for credentials: NATS_URL carries them (`nats://user:password@host`), the
 * node connects with them, and its log never shows the password.
 */

test('NATS_URL with a user and password joins an authenticating nats-server; the password is never logged', async (t) => {
  const pg = await postgresOrSkip(t);
  if (!pg || !(await natsOrSkip(t))) return;
  const nats = await startNats({ authorization: { user: 'picam-node', password: 'nats-secret-3f9a' } });
  t.after(() => nats.close());
  const databaseUrl = await pg.createDatabase();
  const relays: RelayProcess[] = [];
  t.after(() => Promise.all(relays.map((r) => r.stop())));
  const natsUrl = (password: string) => nats.url.replace('nats://', `nats://picam-node:${password}@`);

  const good = await startRelayProcess({ DATABASE_URL: databaseUrl, NATS_URL: natsUrl('nats-secret-3f9a'), NODE_ID: 'auth-good', LOG_LEVEL: 'info' });
  relays.push(good);
  assert.equal(await good.metric('picam_cluster_nats_connected'), 1, good.output());
  assert.ok(!good.output().includes('nats-secret-3f9a'), 'the NATS password appears in the log');

  // The wrong password: refused by the server, and the node still serves its own cameras.
  const bad = await startRelayProcess({ DATABASE_URL: databaseUrl, NATS_URL: natsUrl('wrong-password'), NODE_ID: 'auth-bad', LOG_LEVEL: 'info' });
  relays.push(bad);
  assert.equal(await bad.metric('picam_cluster_nats_connected'), 0);
  assert.equal((await bad.api('GET', '/api/cameras', undefined, bad.adminToken)).status, 200);
  assert.ok(!bad.output().includes('wrong-password'), `the NATS password appears in the log:\n${bad.output()}`);
});
