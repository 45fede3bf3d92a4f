import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPasswordHasher, PRODUCTION_SCRYPT_LOG2N } from './passwords.ts';

test('production cost: N=2^17, r=8, p=1, 16-byte salt, 32-byte key; verifies (needs maxmem above 32 MiB)', async () => {
  const hasher = createPasswordHasher();
  const stored = await hasher.hash('hunter2 hunter2');
  const [scheme, log2N, r, p, salt, key] = stored.split('$');
  assert.deepEqual([scheme, log2N, r, p], ['scrypt', String(PRODUCTION_SCRYPT_LOG2N), '8', '1']);
  assert.equal(Buffer.from(salt ?? '', 'base64url').length, 16);
  assert.equal(Buffer.from(key ?? '', 'base64url').length, 32);
  assert.equal(await hasher.verify('hunter2 hunter2', stored), true);
  assert.equal(await hasher.verify('hunter2 hunter3', stored), false);
});

test('a hash keeps verifying whatever cost the hasher now uses; salts differ', async () => {
  const cheap = createPasswordHasher({ log2N: 4 });
  const a = await cheap.hash('same password');
  const b = await cheap.hash('same password');
  assert.notEqual(a, b);
  assert.equal(await createPasswordHasher({ log2N: 5 }).verify('same password', a), true);
});

test('malformed or abusive stored hashes are refused without hashing', async () => {
  const hasher = createPasswordHasher({ log2N: 4 });
  for (const stored of ['', 'plain', 'scrypt$30$8$1$AAAAAAAAAAA$AAAA', 'bcrypt$4$8$1$a$b', 'scrypt$4$8$1$c2FsdHNhbHQ$short']) {
    assert.equal(await hasher.verify('x', stored), false, stored);
  }
  await hasher.verifyDummy('anything');
});

test('concurrent hashes are capped, and a full queue is refused rather than growing', async () => {
  const hasher = createPasswordHasher({ log2N: 4 });
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => hasher.hash('pw')));
  const refused = results.filter((r) => r.status === 'rejected');
  assert.ok(refused.length > 0 && refused.length < 100);
  assert.ok(refused.every((r) => r.status === 'rejected' && (r.reason as Error).name === 'SemaphoreFullError'));
});
