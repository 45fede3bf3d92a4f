import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { TrustedProxies, clientAddress, normalizeAddress, viaTrustedProxy } from './client-address.ts';

/** A raw request as the upgrade handler sees it: a peer address and headers. */
function request(peer: string | undefined, headers: Record<string, string> = {}): IncomingMessage {
  return { headers, socket: { remoteAddress: peer } } as unknown as IncomingMessage;
}

test('TRUST_PROXY values: off, loopback, lists; a bad entry is named', () => {
  for (const off of [undefined, '', '0', 'false', 'FALSE']) assert.equal(TrustedProxies.parse(off).enabled, false, String(off));
  for (const on of ['1', 'true', 'True']) assert.deepEqual(TrustedProxies.parse(on).ranges, ['127.0.0.0/8', '::1/128']);
  assert.deepEqual(TrustedProxies.parse(' 10.0.0.0/8 , loopback,fd00::1 ').ranges, ['10.0.0.0/8', '127.0.0.0/8', '::1/128', 'fd00::1']);
  for (const bad of ['yes', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/1', '::1/129', 'example.com']) {
    assert.throws(() => TrustedProxies.parse(bad), new RegExp(`not an IP address or CIDR range: "${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
  }
});

test('loopback trust: 127.0.0.0/8, ::1 and IPv4-mapped loopback; nothing else', () => {
  const trust = TrustedProxies.parse('1');
  for (const peer of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(trust.trusts(peer), peer);
  for (const peer of ['10.0.0.1', '::2', '::ffff:10.0.0.1', 'fe80::1', 'garbage', undefined]) assert.ok(!trust.trusts(peer), String(peer));
});

test('the client is the peer unless the peer is trusted; X-Forwarded-For is read from the right', () => {
  const trust = TrustedProxies.parse('10.0.0.0/8,192.0.2.1');
  const xff = (peer: string, header: string) => clientAddress(request(peer, { 'x-forwarded-for': header }), trust);
  assert.equal(xff('203.0.113.5', '1.2.3.4'), '203.0.113.5', 'an untrusted peer is the client');
  assert.equal(xff('10.1.1.1', '1.2.3.4'), '1.2.3.4');
  assert.equal(xff('10.1.1.1', '6.6.6.6, 1.2.3.4'), '1.2.3.4', 'entries left of the first untrusted hop are never read');
  assert.equal(xff('10.1.1.1', '6.6.6.6, 1.2.3.4, 192.0.2.1, 10.2.2.2'), '1.2.3.4', 'trusted hops are skipped');
  assert.equal(xff('10.1.1.1', '10.3.3.3, 10.2.2.2'), '10.3.3.3', 'all trusted: the leftmost');
  assert.equal(xff('10.1.1.1', '1.2.3.4, not-an-ip'), '10.1.1.1', 'a malformed hop ends the walk at the last believed one');
  assert.equal(xff('10.1.1.1', ''), '10.1.1.1');
  assert.equal(xff('::ffff:10.1.1.1', '2001:DB8::1'), '2001:db8::1', 'normalized');
  assert.equal(clientAddress(request('::ffff:203.0.113.9'), TrustedProxies.none), '203.0.113.9');
  assert.equal(clientAddress(request(undefined), trust), 'unknown');
});

test('X-Forwarded-Proto/-Host count only through a trusted peer', () => {
  const trust = TrustedProxies.parse('1');
  const headers = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'cams.example' };
  assert.equal(viaTrustedProxy(request('127.0.0.1', headers), trust), true);
  assert.equal(viaTrustedProxy(request('198.51.100.1', headers), trust), false);
  assert.equal(viaTrustedProxy(request('127.0.0.1', headers), TrustedProxies.none), false);
});

test('normalizeAddress', () => {
  assert.equal(normalizeAddress(' ::FFFF:192.0.2.1 '), '192.0.2.1');
  assert.equal(normalizeAddress('2001:DB8::A'), '2001:db8::a');
  assert.equal(normalizeAddress('192.0.2.1'), '192.0.2.1');
});
