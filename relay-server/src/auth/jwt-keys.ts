import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { randomId } from './ids.ts';

/**
 * Ed25519 signing keys for session and share JWTs, one private JWK per file in
 * `DATA_DIR/keys/<kid>.jwk` (file 0600, directory 0700). The newest key signs; every key present
 * verifies, so rotation (`picam-relay keys rotate`) never logs anyone out: drop an old file once
 * the longest session signed with it has expired. The store notices files added by the CLI while
 * the relay runs (directory mtime), so a rotation takes effect without a restart.
 */

export const JWT_ALG = 'EdDSA';

interface StoredKey {
  kid: string;
  created: number;
  signKey: CryptoKey;
  verifyKey: CryptoKey;
}

export interface KeyInfo {
  kid: string;
  created: number;
}

export interface KeyStore {
  /** the newest key (reloads first if the key directory changed) */
  signingKey(): Promise<{ kid: string; key: CryptoKey }>;
  /** public key for a kid; throws for an unknown kid */
  verificationKey(kid: string | undefined): Promise<CryptoKey>;
  list(): KeyInfo[];
  rotate(): Promise<KeyInfo>;
}

export function keysDir(dataDir: string): string {
  return join(dataDir, 'keys');
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask and ignored for an existing directory.
  chmodSync(dir, 0o700);
}

/** Writes a new private key file (atomically: temp file then rename) and returns its id. */
export async function rotateSigningKey(dataDir: string, now: () => number = Date.now): Promise<KeyInfo> {
  const dir = keysDir(dataDir);
  ensureDir(dir);
  const { privateKey } = await generateKeyPair(JWT_ALG, { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const info: KeyInfo = { kid: randomId(12), created: now() };
  const body = JSON.stringify({ ...jwk, kid: info.kid, alg: JWT_ALG, use: 'sig', created: info.created }, null, 2);
  const tmp = join(dir, `.${info.kid}.tmp`);
  writeFileSync(tmp, body + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, join(dir, `${info.kid}.jwk`));
  return info;
}

async function loadKeys(dir: string): Promise<StoredKey[]> {
  const keys: StoredKey[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jwk')) continue;
    const path = join(dir, name);
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    const jwk = JSON.parse(readFileSync(path, 'utf8')) as JWK & { created?: unknown };
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x || typeof jwk.kid !== 'string') {
      throw new Error(`signing key ${path} is not an Ed25519 private JWK with a kid`);
    }
    keys.push({
      kid: jwk.kid,
      created: typeof jwk.created === 'number' ? jwk.created : 0,
      signKey: (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, JWT_ALG)) as CryptoKey,
      verifyKey: (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, JWT_ALG)) as CryptoKey,
    });
  }
  return keys.sort((a, b) => b.created - a.created || b.kid.localeCompare(a.kid));
}

export async function openKeyStore(dataDir: string, now: () => number = Date.now): Promise<KeyStore> {
  const dir = keysDir(dataDir);
  ensureDir(dir);
  let keys = await loadKeys(dir);
  if (keys.length === 0) {
    await rotateSigningKey(dataDir, now);
    keys = await loadKeys(dir);
  }
  let seenMtime = statSync(dir).mtimeMs;

  async function refreshIfChanged(): Promise<void> {
    const mtime = statSync(dir).mtimeMs;
    if (mtime === seenMtime) return;
    const loaded = await loadKeys(dir);
    seenMtime = mtime;
    if (loaded.length > 0) keys = loaded;
  }

  return {
    async signingKey() {
      await refreshIfChanged();
      const newest = keys[0];
      if (!newest) throw new Error('no signing key');
      return { kid: newest.kid, key: newest.signKey };
    },
    async verificationKey(kid) {
      let found = keys.find((k) => k.kid === kid);
      if (!found && kid !== undefined) {
        await refreshIfChanged();
        found = keys.find((k) => k.kid === kid);
      }
      if (!found) throw new UnknownKeyError();
      return found.verifyKey;
    },
    list() {
      return keys.map(({ kid, created }) => ({ kid, created }));
    },
    async rotate() {
      const info = await rotateSigningKey(dataDir, now);
      // Reload unconditionally: directory mtimes are coarse (a jiffy on ext4).
      keys = await loadKeys(dir);
      seenMtime = statSync(dir).mtimeMs;
      return info;
    },
  };
}

export class UnknownKeyError extends Error {
  override readonly name = 'UnknownKeyError';
  constructor() {
    super('token signed by an unknown key');
  }
}
