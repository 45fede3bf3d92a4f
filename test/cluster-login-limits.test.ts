import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterOrSkip } from './helpers/cluster.ts';
import type { RelayProcess } from './helpers/relay-process.ts';

/**
 * The login limits hold across the nodes of a cluster: a guesser spreading wrong passwords over two
 * relays (as a round-robin balancer would) gets the attempts one relay gives, not twice as many.
 */

test('wrong passwords counted on one node count on the other: N nodes do not give N times the attempts', async (t) => {
  const cluster = await clusterOrSkip(t);
  if (!cluster) return;
  const a = await cluster.start('node-a');
  const b = await cluster.start('node-b');

  const guess = (relay: RelayProcess) => relay.api('POST', '/api/auth/login', { username: 'admin', password: 'not-the-password' });
  // Four wrong guesses on A: under the limit of five per username and address.
  for (let i = 0; i < 4; i++) assert.equal((await guess(a)).status, 401);
  // The fifth on B is still answered; it is the last one the pair of nodes allows.
  assert.equal((await guess(b)).status, 401);
  // A and B each refuse the sixth: B counted A's four, A counted B's one.
  const onA = await guess(a);
  const onB = await guess(b);
  assert.equal(onA.status, 429, `node A: ${JSON.stringify(onA.json)}`);
  assert.equal(onB.status, 429, `node B: ${JSON.stringify(onB.json)}`);
  assert.equal(onB.json.error.code, 'rate_limited');
});
