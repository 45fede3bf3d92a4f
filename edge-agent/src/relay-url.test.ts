import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentSocketUrl, normalizeRelayUrl, relayEndpoint } from './relay-url.ts';
import { AgentError } from './errors.ts';

test('normalises trailing slashes, query and fragment away', () => {
  assert.equal(normalizeRelayUrl('https://relay.example.com/'), 'https://relay.example.com');
  assert.equal(normalizeRelayUrl(' http://10.0.0.2:8080/picam/?x=1#y '), 'http://10.0.0.2:8080/picam');
});

test('refuses malformed URLs and other schemes with a readable error', () => {
  for (const bad of ['relay.example.com', 'not a url', 'ftp://relay.example.com', 'ws://relay:8080', 'https://u:p@relay']) {
    assert.throws(() => normalizeRelayUrl(bad), (e: unknown) => e instanceof AgentError && e.code === 'ERR_RELAY_URL' && e.message.includes(bad));
  }
});

test('maps http to ws and https to wss, keeping a path prefix', () => {
  assert.equal(agentSocketUrl('http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/api/agent');
  assert.equal(agentSocketUrl('https://relay.example.com/picam/'), 'wss://relay.example.com/picam/api/agent');
  assert.equal(relayEndpoint('https://relay.example.com/picam', 'healthz').toString(), 'https://relay.example.com/picam/healthz');
});
