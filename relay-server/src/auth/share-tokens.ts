import type { KeyStore } from './jwt-keys.ts';
import { signToken, verifyToken, type TokenClaims, type TokenKind } from './jwt.ts';

/** Share-link JWTs: `sub` = camera id, `jti` = shares row id (checked on every use, so revocable). */
export const MAX_SHARE_LIFETIME_SECONDS = 30 * 24 * 3600;

export const SHARE_TOKEN: TokenKind = {
  typ: 'share+jwt',
  aud: 'picam-relay/share',
  maxLifetimeSeconds: MAX_SHARE_LIFETIME_SECONDS,
};

export const signShareToken = (keys: KeyStore, claims: TokenClaims) => signToken(keys, SHARE_TOKEN, claims);

export const verifyShareToken = (keys: KeyStore, token: string, now: number) =>
  verifyToken(keys, SHARE_TOKEN, token, now);
