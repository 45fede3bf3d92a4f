import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { randomId } from './ids.ts';

/**
 * Ed25519 signing keys for session and share JWTs, one private JWK per file in
 * `DATA_DIR/keys/<kid>.jwk` (file 0600, directory 0700). The newest key signs; every key present
 * verifies, so rotation (`picam-relay keys rotate`) never logs anyone out: drop an old file once
 * the longest session signed with it has expired (`picam-relay keys remove <kid>`). The store
 * notices files added by the CLI while the relay runs (directory mtime), so a rotation takes effect
 * without a restart; and before a key signs or verifies, its own file is looked at (one stat): a
 * key whose file is gone or was replaced is dropped at once, never used again from memory.
 * With DATABASE_URL the keys live in Postgres instead, shared by every node (shared-keys.ts).
 */

export const JWT_ALG = 'EdDSA';

interface StoredKey {
  kid: string;
  path: string;
  /** the file's identity when loaded: a different one means it was removed or replaced */
  ino: number;
  mtimeMs: number;
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
  list(): Promise<KeyInfo[]>;
  rotate(): Promise<KeyInfo>;
  /**
   * Is `kid` still a key (its file on disk unchanged, or its row present)? For the periodic
   * re-check of live viewers, whose tokens were verified once at the upgrade.
   */
  isCurrent(kid: string | undefined): Promise<boolean>;
}

/** A new key as stored (file or row): its private JWK with kid and creation time, as JSON. */
export async function newKeyJson(now: () => number): Promise<{ info: KeyInfo; json: string }> {
  const { privateKey } = await generateKeyPair(JWT_ALG, { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(privateKey);
  const info: KeyInfo = { kid: randomId(12), created: now() };
  return { info, json: JSON.stringify({ ...jwk, kid: info.kid, alg: JWT_ALG, use: 'sig', created: info.created }, null, 2) };
}

export interface ParsedKey extends KeyInfo {
  signKey: CryptoKey;
  verifyKey: CryptoKey;
}

/** `where` names the key's home in the error (a file path, a table row). */
export async function parseKeyJson(text: string, where: string): Promise<ParsedKey> {
  const jwk = JSON.parse(text) as JWK & { created?: unknown };
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x || typeof jwk.kid !== 'string') {
    throw new Error(`signing key ${where} is not an Ed25519 private JWK with a kid`);
  }
  return {
    kid: jwk.kid,
    created: typeof jwk.created === 'number' ? jwk.created : 0,
    signKey: (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, JWT_ALG)) as CryptoKey,
    verifyKey: (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, JWT_ALG)) as CryptoKey,
  };
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
  const { info, json: body } = await newKeyJson(now);
  const tmp = join(dir, `.${info.kid}.tmp`);
  writeFileSync(tmp, body + '\n', { mode: 0o600, flag: 'wx' });
  renameSync(tmp, join(dir, `${info.kid}.jwk`));
  return info;
}

/** The file as it is now, or undefined when it is gone (removed between listing and reading). */
function statIfPresent(path: string): Stats | undefined {
  return statSync(path, { throwIfNoEntry: false });
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function loadKeys(dir: string): Promise<StoredKey[]> {
  const keys: StoredKey[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jwk')) continue;
    const path = join(dir, name);
    const stat = statIfPresent(path);
    if (!stat) continue;
    if ((stat.mode & 0o077) !== 0) chmodSync(path, 0o600);
    const text = readIfPresent(path);
    if (text === undefined) continue;
    keys.push({ ...(await parseKeyJson(text, path)), path, ino: stat.ino, mtimeMs: stat.mtimeMs });
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

  async function reload(): Promise<void> {
    seenMtime = statSync(dir).mtimeMs;
    keys = await loadKeys(dir);
  }

  async function refreshIfChanged(): Promise<void> {
    if (statSync(dir).mtimeMs !== seenMtime) await reload();
  }

  function unchangedOnDisk(key: StoredKey): boolean {
    const stat = statIfPresent(key.path);
    return stat !== undefined && stat.ino === key.ino && stat.mtimeMs === key.mtimeMs;
  }

  /** false when the key's file is gone or replaced since it was loaded (then the set is reloaded) */
  async function stillOnDisk(key: StoredKey): Promise<boolean> {
    if (unchangedOnDisk(key)) return true;
    await reload();
    return false;
  }

  return {
    async signingKey() {
      await refreshIfChanged();
      let newest = keys[0];
      if (newest && !(await stillOnDisk(newest))) newest = keys[0];
      if (!newest) {
        // Every file was deleted by hand: start over with a fresh key, as at first start.
        await rotateSigningKey(dataDir, now);
        await reload();
        newest = keys[0];
      }
      if (!newest) throw new Error(`no signing key in ${dir}`);
      return { kid: newest.kid, key: newest.signKey };
    },
    async verificationKey(kid) {
      let found = keys.find((k) => k.kid === kid);
      if (!found && kid !== undefined) {
        await refreshIfChanged();
        found = keys.find((k) => k.kid === kid);
      }
      // Never from memory alone: a removed key must stop verifying now, not at the next reload.
      if (found && !(await stillOnDisk(found))) found = keys.find((k) => k.kid === kid);
      if (!found) throw new UnknownKeyError();
      return found.verifyKey;
    },
    list() {
      return Promise.resolve(keys.map(({ kid, created }) => ({ kid, created })));
    },
    async isCurrent(kid) {
      const key = keys.find((k) => k.kid === kid);
      if (!key) return false;
      if (unchangedOnDisk(key)) return true;
      // Gone or replaced: forget it now (a replacement is read by the next async reload).
      keys = keys.filter((k) => k !== key);
      seenMtime = Number.NaN;
      return false;
    },
    async rotate() {
      const info = await rotateSigningKey(dataDir, now);
      // Reload unconditionally: directory mtimes are coarse (a jiffy on ext4).
      await reload();
      return info;
    },
  };
}

/**
 * Deletes the key file holding `kid` (`picam-relay keys remove`): tokens it signed stop verifying,
 * in a running relay too (it checks a key's file before each use). The last key is refused: the
 * relay would have nothing to sign with.
 */
export function removeSigningKey(dataDir: string, kid: string): void {
  const dir = keysDir(dataDir);
  const files = readdirSync(dir).filter((name) => name.endsWith('.jwk'));
  const path = files
    .map((name) => join(dir, name))
    .find((p) => {
      const text = readIfPresent(p);
      return text !== undefined && (JSON.parse(text) as { kid?: unknown }).kid === kid;
    });
  if (!path) throw new KeyStoreError(`no signing key ${kid}`);
  if (files.length === 1) throw new KeyStoreError(`${kid} is the last signing key: rotate first (picam-relay keys rotate)`);
  unlinkSync(path);
}

export class KeyStoreError extends Error {
  override readonly name = 'KeyStoreError';
}

export class UnknownKeyError extends Error {
  override readonly name = 'UnknownKeyError';
  constructor() {
    super('token signed by an unknown key');
  }
}
