import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Identifiers and secrets. Ids are public (they appear in URLs) but still unguessable, so a
 * camera or share id alone never lets anyone enumerate others. Secrets are 32 random bytes and
 * only their SHA-256 is ever stored: a leaked database holds nothing that can be replayed.
 */

// 32 symbols, no look-alikes (0/o, 1/l): a byte masked to 5 bits maps onto it without bias.
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

export function randomId(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

/** 32 random bytes, base64url (43 characters), with an optional recognisable prefix. */
export function randomSecret(prefix = ''): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests of equal length (false on any length mismatch). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
