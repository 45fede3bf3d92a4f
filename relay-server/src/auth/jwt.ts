import { isDatabaseUnavailable } from '../db/availability.ts';
import { SignJWT, errors, jwtVerify } from 'jose';
import { JWT_ALG, type KeyStore } from './jwt-keys.ts';

/**
 * Signing and verifying our two kinds of JWT (sessions and share links). Every verification pins
 * the algorithm (jose otherwise accepts whatever the key fits: `alg: none` and HS256-with-the-
 * public-key confusion both die here), and requires this kind's `typ` header and `aud` claim, so
 * one kind can never pass as the other (RFC 8725 3.11-3.12). `iat` in the future and `nbf` are
 * checked with a small tolerance for clock skew between relays.
 */

const ISSUER = 'picam-relay';
const CLOCK_TOLERANCE_SECONDS = 5;

export interface TokenKind {
  typ: string;
  aud: string;
  /** upper bound on exp - iat; also bounds how old a token may be */
  maxLifetimeSeconds: number;
}

export interface TokenClaims {
  sub: string;
  jti: string;
  /** ms since the epoch */
  issuedAt: number;
  /** ms since the epoch */
  expiresAt: number;
}

export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly reason: 'expired' | 'invalid';
  constructor(reason: 'expired' | 'invalid', message: string) {
    super(message);
    this.reason = reason;
  }
}

async function signToken(keys: KeyStore, kind: TokenKind, claims: TokenClaims, extra: Record<string, unknown> = {}): Promise<string> {
  const { kid, key } = await keys.signingKey();
  return new SignJWT(extra)
    .setProtectedHeader({ alg: JWT_ALG, typ: kind.typ, kid })
    .setIssuer(ISSUER)
    .setAudience(kind.aud)
    .setSubject(claims.sub)
    .setJti(claims.jti)
    .setIssuedAt(Math.floor(claims.issuedAt / 1000))
    .setExpirationTime(Math.ceil(claims.expiresAt / 1000))
    .sign(key);
}

async function verifyToken(keys: KeyStore, kind: TokenKind, token: string, now: number): Promise<TokenClaims & { payload: Record<string, unknown> }> {
  try {
    const { payload } = await jwtVerify(token, (header) => keys.verificationKey(header.kid), {
      algorithms: [JWT_ALG],
      typ: kind.typ,
      audience: kind.aud,
      issuer: ISSUER,
      currentDate: new Date(now),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      maxTokenAge: kind.maxLifetimeSeconds,
      requiredClaims: ['sub', 'jti', 'iat', 'exp'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.jti !== 'string') throw new TokenError('invalid', 'bad claims');
    return {
      sub: payload.sub,
      jti: payload.jti,
      issuedAt: (payload.iat ?? 0) * 1000,
      expiresAt: (payload.exp ?? 0) * 1000,
      payload,
    };
  } catch (err) {
    // The key store could not ask the registry: that is no verdict on the token (503, not 401).
    if (err instanceof TokenError || isDatabaseUnavailable(err)) throw err;
    if (err instanceof errors.JWTExpired) throw new TokenError('expired', 'token expired');
    throw new TokenError('invalid', 'token invalid');
  }
}

/** Tokens are only ever JWS compact strings of modest size; anything else is refused unparsed. */
export function looksLikeJwt(token: string): boolean {
  return token.length < 4096 && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
}

/** Session JWTs: `sub` = user id, `jti` = sessions row id (checked on every use, so revocable). */
export const SESSION_TOKEN: TokenKind = {
  typ: 'session+jwt',
  aud: 'picam-relay/session',
  maxLifetimeSeconds: 90 * 24 * 3600,
};

export const signSessionToken = (keys: KeyStore, claims: TokenClaims) => signToken(keys, SESSION_TOKEN, claims);

export const verifySessionToken = (keys: KeyStore, token: string, now: number) => verifyToken(keys, SESSION_TOKEN, token, now);

/** Share-link JWTs: `sub` = camera id, `jti` = shares row id (checked on every use, so revocable). */
export const MAX_SHARE_LIFETIME_SECONDS = 30 * 24 * 3600;

export const SHARE_TOKEN: TokenKind = {
  typ: 'share+jwt',
  aud: 'picam-relay/share',
  maxLifetimeSeconds: MAX_SHARE_LIFETIME_SECONDS,
};

export const signShareToken = (keys: KeyStore, claims: TokenClaims) => signToken(keys, SHARE_TOKEN, claims);

export const verifyShareToken = (keys: KeyStore, token: string, now: number) => verifyToken(keys, SHARE_TOKEN, token, now);

/**
 * Clip tokens: `sub` = camera id, `jti` = the clip share's id (checked on every use, so revoking the
 * link revokes them), `clip` = [start, end] epoch ms. Short-lived: minted by the share page with
 * its share token for the `<video src>` of clip.mp4, which cannot send a header, so this token
 * does go into a URL; it opens that one clip only, and only for a little longer than it plays.
 */
const CLIP_TOKEN: TokenKind = {
  typ: 'clip+jwt',
  aud: 'picam-relay/clip',
  maxLifetimeSeconds: 3 * 3600,
};

export interface ClipTokenClaims extends TokenClaims {
  clip: { start: number; end: number };
}

export const signClipToken = (keys: KeyStore, claims: ClipTokenClaims) =>
  signToken(keys, CLIP_TOKEN, claims, { clip: [claims.clip.start, claims.clip.end] });

export async function verifyClipToken(keys: KeyStore, token: string, now: number): Promise<ClipTokenClaims> {
  const { payload, ...claims } = await verifyToken(keys, CLIP_TOKEN, token, now);
  const clip = payload.clip;
  if (!Array.isArray(clip) || clip.length !== 2 || !clip.every((v) => Number.isSafeInteger(v))) throw new TokenError('invalid', 'bad claims');
  return { ...claims, clip: { start: clip[0] as number, end: clip[1] as number } };
}
