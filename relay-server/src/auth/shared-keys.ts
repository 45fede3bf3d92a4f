import { and, desc, eq, sql } from 'drizzle-orm';
import type { RegistryDb } from '../db/client.ts';
import { signingKeys } from '../db/pg-schema.ts';
import { KeyStoreError, newKeyJson, parseKeyJson, UnknownKeyError, type KeyInfo, type KeyStore, type ParsedKey } from './jwt-keys.ts';

/**
 * Signing keys in Postgres (DATABASE_URL), shared by every node of a cluster: a token signed on
 * one node verifies on all, and `picam-relay keys rotate/remove` reaches them all. Verifying asks
 * the table whether the token's kid is still there (one primary-key lookup; the parsed key itself
 * is kept in memory), so a removed key stops verifying on every node at once, as with key files.
 * Signing uses the newest key as last read, read again when older than SIGNING_KEY_CACHE_MS: a
 * rotation on another node signs here within that time (meanwhile the previous key, still valid
 * everywhere, signs).
 */

const SIGNING_KEY_CACHE_MS = 2_000;

export async function openSharedKeyStore(db: RegistryDb, now: () => number = Date.now): Promise<KeyStore> {
  let keys: ParsedKey[] = [];
  // Real time, not `now`: tests move their clock by days, and this cache is about the table.
  let loadedAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<void> | undefined;

  async function load(): Promise<void> {
    const rows = await db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt), desc(signingKeys.kid));
    keys = await Promise.all(rows.map((r) => known(r.kid, r.jwk)));
    loadedAt = performance.now();
  }

  /** The parsed key for a row, from memory when it was parsed before (parsing costs two imports). */
  async function known(kid: string, jwk: string): Promise<ParsedKey> {
    return keys.find((k) => k.kid === kid) ?? parseKeyJson(jwk, `row ${kid} of signing_keys`);
  }

  /** One query at a time, whoever asks. */
  function reload(): Promise<void> {
    loading ??= load().finally(() => (loading = undefined));
    return loading;
  }

  /** The key named `kid` if its row is there now. */
  async function present(kid: string | undefined): Promise<ParsedKey | undefined> {
    if (kid === undefined) return undefined;
    const [row] = await db.select().from(signingKeys).where(eq(signingKeys.kid, kid)).limit(1);
    return row && known(row.kid, row.jwk);
  }

  await load();
  // First start of the cluster: N nodes may each add one; every one of them verifies, the newest signs.
  if (keys.length === 0) {
    await rotateSharedKey(db, now);
    await load();
  }

  return {
    async signingKey() {
      if (performance.now() - loadedAt > SIGNING_KEY_CACHE_MS) await reload();
      let newest = keys[0];
      if (newest && !(await present(newest.kid))) {
        // Removed since the last read (`keys remove`): never sign with it again.
        await reload();
        newest = keys[0];
      }
      if (!newest) {
        // Every row was deleted by hand: start over with a fresh key, as at first start.
        await rotateSharedKey(db, now);
        await reload();
        newest = keys[0];
      }
      if (!newest) throw new Error('no signing key in signing_keys');
      return { kid: newest.kid, key: newest.signKey };
    },
    async verificationKey(kid) {
      const found = await present(kid);
      if (!found) throw new UnknownKeyError();
      return found.verifyKey;
    },
    async list() {
      await reload();
      return keys.map(({ kid, created }) => ({ kid, created }));
    },
    async isCurrent(kid) {
      return (await present(kid)) !== undefined;
    },
    async rotate() {
      const info = await rotateSharedKey(db, now);
      await reload();
      return info;
    },
  };
}

/** Adds a new signing key row (`picam-relay keys rotate` and the store itself). */
export async function rotateSharedKey(db: RegistryDb, now: () => number = Date.now): Promise<KeyInfo> {
  const { info, json } = await newKeyJson(now);
  await db.insert(signingKeys).values({ kid: info.kid, jwk: json, createdAt: info.created });
  return info;
}

/**
 * Deletes a key row: tokens it signed stop verifying on every node within the store's cache time.
 * The last key is refused (nothing would sign): the check is part of the DELETE itself.
 */
export async function removeSharedKey(db: RegistryDb, kid: string): Promise<void> {
  const deleted = await db
    .delete(signingKeys)
    .where(and(eq(signingKeys.kid, kid), sql`exists (select 1 from ${signingKeys} where ${signingKeys.kid} <> ${kid})`))
    .returning({ kid: signingKeys.kid });
  if (deleted.length > 0) return;
  const [exists] = await db.select({ kid: signingKeys.kid }).from(signingKeys).where(eq(signingKeys.kid, kid)).limit(1);
  if (!exists) throw new KeyStoreError(`no signing key ${kid}`);
  throw new KeyStoreError(`${kid} is the last signing key: rotate first (picam-relay keys rotate)`);
}
