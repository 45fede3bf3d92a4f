import assert from 'node:assert/strict';
import { mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RelayChild, adminLogin, createCamera, httpJson } from './helpers/proxies.ts';
import { fillDisk, mountTinyDisk } from './helpers/tiny-disk.ts';

/**
 * DATA_DIR on a full disk. A tiny tmpfs is mounted for it (needs root with CAP_SYS_ADMIN, as on the
 * CI machine); where mounting is not permitted the tests are skipped loudly, saying so (as root, a
 * read-only directory would not stop the writes, so there is no honest substitute).
 *
 *  - full at start: the relay exits by itself, non-zero, once, saying the disk is full;
 *  - fills while running: reads carry on, writes fail with a JSON 5xx, and work again
 *    once space is freed; the relay neither exits nor floods its log.
 */

describe('DATA_DIR on a full disk', () => {
  it('full at start: the relay exits non-zero by itself, once, with a message naming the problem', async (t) => {
    const mount = mountTinyDisk(t, 64, 'disk-full');
    if (!mount) return;
    fillDisk(mount);
    const dataDir = join(mount, 'data');
    mkdirSync(dataDir);
    const started = Date.now();
    const error = await RelayChild.start({ dataDir, startTimeoutMs: 15_000 }).then(
      () => assert.fail('the relay started on a full disk'),
      (e: Error) => e,
    );
    const elapsed = Date.now() - started;
    assert.match(error.message, /relay exited \(code [1-9]\d*, signal null\) while waiting/);
    assert.ok(elapsed < 15_000, `took ${elapsed} ms to give up`);
    assert.match(error.message, /disk is full|no space left|ENOSPC|SQLITE_FULL/i, error.message);

    await t.test(
      'without a stack trace (one clear line, no `    at` frames)',
      () => {
        const output = error.message.split('\n').slice(1).join('\n');
        assert.doesNotMatch(output, /^\s+at /m, output);
        assert.ok(output.trim().split('\n').length <= 3, output);
      },
    );
  });

  it('fills while running: the relay stays up, reads go on, writes fail with a JSON 5xx, and recover once space is freed', async (t) => {
    const mount = mountTinyDisk(t, 8 * 1024, 'disk-full');
    if (!mount) return;
    const relay = await RelayChild.start({ dataDir: join(mount, 'data') });
    t.after(() => relay.stop('SIGKILL'));
    const admin = await adminLogin(relay.url);
    await createCamera(relay.url, admin, 'before');
    const outputBefore = relay.output().split('\n').length;

    const filler = fillDisk(mount);
    // Writes that need new pages: several cameras (rows + audit entries).
    const answers = [];
    for (let i = 0; i < 20; i++) {
      answers.push(await httpJson('POST', `${relay.url}/api/cameras`, { body: { name: `cam ${i} ${'x'.repeat(60)}` }, headers: { authorization: `Bearer ${admin}` } }));
    }
    const refused = answers.filter((a) => a.status >= 500);
    assert.ok(refused.length > 0, `no write failed on a full disk: ${answers.map((a) => a.status).join(',')}`);
    for (const a of refused) assert.ok(typeof a.json?.error?.code === 'string', `a JSON error body: ${a.text}`);
    assert.ok(answers.every((a) => a.status === 201 || a.status >= 500), answers.map((a) => a.status).join(','));
    assert.ok(relay.running, `the relay exited on a full disk:\n${relay.output()}`);
    const health = await httpJson('GET', `${relay.url}/healthz`);
    assert.equal(health.status, 200, 'reads still answered');
    const list = await httpJson('GET', `${relay.url}/api/cameras`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(list.status, 200);

    unlinkSync(filler);
    const again = await httpJson('POST', `${relay.url}/api/cameras`, { body: { name: 'after' }, headers: { authorization: `Bearer ${admin}` } });
    assert.equal(again.status, 201, again.text);
    const logged = relay.output().split('\n').length - outputBefore;
    assert.ok(logged <= refused.length * 3 + 5, `${logged} log lines for ${refused.length} failed writes:\n${relay.output().slice(-2000)}`);
  });
});
