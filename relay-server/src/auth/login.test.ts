import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/client.ts';
import { testDatabaseUrl } from '../../../test/helpers/test-database.ts';
import { createLogger } from '../logger.ts';
import type { AuthDeps } from './deps.ts';
import type { KeyStore } from './jwt-keys.ts';
import { createPasswordCheck, LOGIN_ATTEMPTS_PER_ADDRESS } from './login.ts';
import type { PasswordHasher } from './passwords.ts';

test('rate limits are applied before any hashing; unknown users still pay for a (dummy) hash', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'picam-login-'));
  const opened = await openDatabase({ dataDir: dir, databaseUrl: await testDatabaseUrl() });
  try {
    const calls: string[] = [];
    const hasher: PasswordHasher = {
      hash: async () => 'unused',
      verify: async () => {
        calls.push('verify');
        return false;
      },
      verifyDummy: async () => {
        calls.push('dummy');
      },
    };
    const deps: AuthDeps = {
      db: opened.db,
      index: opened.index,
      config: { ...loadConfig({ LOGIN_HASHES_PER_SECOND: '1000' }), dataDir: dir },
      log: createLogger('silent'),
      live: () => {
        throw new Error('not used');
      },
      recorder: () => {
        throw new Error('not used');
      },
      now: () => 0,
      keys: {} as KeyStore,
      hasher,
    };
    const check = createPasswordCheck(deps);
    for (let i = 0; i < LOGIN_ATTEMPTS_PER_ADDRESS; i++) {
      await assert.rejects(check.check(`ghost${i}`, 'pw', '10.0.0.1'), { code: 'invalid_credentials' });
    }
    assert.equal(calls.length, LOGIN_ATTEMPTS_PER_ADDRESS);
    assert.ok(calls.every((c) => c === 'dummy'));
    await assert.rejects(check.check('ghost', 'pw', '10.0.0.1'), { code: 'rate_limited', status: 429 });
    assert.equal(calls.length, LOGIN_ATTEMPTS_PER_ADDRESS, 'no hash once limited');
  } finally {
    await opened.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
