import type { KeyStore } from './jwt-keys.ts';
import { signToken, verifyToken, type TokenClaims, type TokenKind } from './jwt.ts';

/** Session JWTs: `sub` = user id, `jti` = sessions row id (checked on every use, so revocable). */
export const SESSION_TOKEN: TokenKind = {
  typ: 'session+jwt',
  aud: 'picam-relay/session',
  maxLifetimeSeconds: 90 * 24 * 3600,
};

export const SESSION_COOKIE = 'picam_session';

export const signSessionToken = (keys: KeyStore, claims: TokenClaims) => signToken(keys, SESSION_TOKEN, claims);

export const verifySessionToken = (keys: KeyStore, token: string, now: number) =>
  verifyToken(keys, SESSION_TOKEN, token, now);
