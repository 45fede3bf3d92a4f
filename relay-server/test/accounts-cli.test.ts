import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../src/config.ts';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../src/db/client.ts';
import { users } from '../src/db/pg-schema.ts';
import { runKeysCommand, runUsersCommand, type CliIo } from '../src/users-cli.ts';
import { testDatabaseUrl } from '../../test/helpers/test-database.ts';

/** `picam-relay users ...` and `keys ...` against a real DATA_DIR (production scrypt cost). */

const dataDir = mkdtempSync(join(tmpdir(), 'picam-cli-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
// PICAM_TEST_DATABASE=postgres: the commands act on a Postgres registry (and its signing_keys table).
const config = { ...loadConfig({}), dataDir, databaseUrl: await testDatabaseUrl() };

function io(stdin = ''): CliIo & { out: string; err: string } {
  const sink = {
    out: '',
    err: '',
    stdout: (t: string) => void (sink.out += t),
    stderr: (t: string) => void (sink.err += t),
    stdin: Readable.from([Buffer.from(stdin)]),
  };
  return sink;
}

test('users add (password from stdin, never echoed), list, passwd, remove', async () => {
  const add = io('s3cret-from-stdin\n');
  assert.equal(await runUsersCommand(['add', 'Alice', '--role', 'admin', '--password-stdin'], config, add), 0);
  assert.match(add.out, /added alice \(admin\)/);
  assert.ok(!add.out.includes('s3cret') && !add.err.includes('s3cret'));

  const db = await openDatabase(config);
  const [row] = await db.db.select({ password_hash: users.passwordHash }).from(users).where(eq(users.username, 'alice'));
  await db.close();
  assert.ok(row);
  assert.match(row.password_hash, /^scrypt\$17\$8\$1\$/);

  const gen = io();
  assert.equal(await runUsersCommand(['add', 'bob'], config, gen), 0);
  assert.match(gen.out, /added bob \(viewer\)\npassword: [\w-]{24}\n/);

  const list = io();
  assert.equal(await runUsersCommand(['list'], config, list), 0);
  assert.match(list.out, /^alice\tadmin\tall cameras\t/m);
  assert.match(list.out, /^bob\tviewer\tno cameras\t/m);

  const passwd = io();
  assert.equal(await runUsersCommand(['passwd', 'bob', '--password', 'another-pass'], config, passwd), 0);
  assert.match(passwd.out, /password changed for bob; 0 session\(s\) ended/);
  assert.ok(!passwd.out.includes('another-pass'));

  const short = io('short\n');
  assert.equal(await runUsersCommand(['passwd', 'bob', '--password-stdin'], config, short), 1);
  assert.match(short.err, /at least|8-1024/);

  assert.equal(await runUsersCommand(['remove', 'bob'], config, io()), 0);
  const lastAdmin = io();
  assert.equal(await runUsersCommand(['remove', 'alice'], config, lastAdmin), 1);
  assert.match(lastAdmin.err, /last admin/);
  const missing = io();
  assert.equal(await runUsersCommand(['remove', 'nobody'], config, missing), 1);
  const usage = io();
  assert.notEqual(await runUsersCommand(['frobnicate'], config, usage), 0);
});

test('keys rotate adds a 0600 key file (a row with Postgres); list shows the newest as signing', async () => {
  const first = io();
  assert.equal(await runKeysCommand(['list'], config, first), 0);
  assert.equal(await runKeysCommand(['rotate'], config, io()), 0);
  if (config.databaseUrl === undefined) {
    const files = readdirSync(join(dataDir, 'keys')).filter((f) => f.endsWith('.jwk'));
    assert.equal(files.length, 2);
  }
  const list = io();
  await runKeysCommand(['list'], config, list);
  const lines = list.out.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', /\tsigning$/);
});
