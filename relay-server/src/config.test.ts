import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { ConfigError, loadConfig } from './config.ts';

test('cluster settings: NATS_URL needs DATABASE_URL; DATABASE_URL is a postgres:// URL; NODE_ID defaults to host name and port', () => {
  const single = loadConfig({ PORT: '8080' });
  assert.equal(single.databaseUrl, undefined);
  assert.equal(single.natsUrl, undefined);
  assert.equal(single.nodeId, `${hostname()}:8080`);

  assert.throws(() => loadConfig({ NATS_URL: 'nats://127.0.0.1:4222' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /NATS_URL/);
    assert.match(err.message, /DATABASE_URL/);
    return true;
  });
  assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://db/picam' }), /DATABASE_URL must be a postgres:\/\//);
  assert.throws(() => loadConfig({ DATABASE_URL: 'postgres://db/picam', NATS_URL: 'http://nats:4222' }), /NATS_URL/);

  const cluster = loadConfig({
    DATABASE_URL: 'postgres://picam:secret@db:5432/picam',
    NATS_URL: 'nats://n1:4222, nats://n2:4222',
    NODE_ID: 'relay-a',
  });
  assert.equal(cluster.databaseUrl, 'postgres://picam:secret@db:5432/picam');
  assert.deepEqual(cluster.natsUrl, ['nats://n1:4222', 'nats://n2:4222']);
  assert.equal(cluster.nodeId, 'relay-a');
});
