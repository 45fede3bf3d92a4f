import { ApiError, unauthenticated } from '../errors.ts';
import { findSession, insertSession, isSessionLive, type SessionRow } from '../db/sessions.ts';
import { findUserById, isGranted, type UserRow } from '../db/users.ts';
import type { AuthDeps } from './deps.ts';
import { randomId } from './ids.ts';
import { looksLikeJwt, signSessionToken, TokenError, verifySessionToken } from './jwt.ts';

/**
 * Sessions: a row per login plus a JWT naming it. The JWT alone is never enough: every use also
 * checks the row (not revoked, not expired) and that the user still exists, so logout, password
 * change and user removal take effect at once.
 */

/** The browser's session cookie: the same session JWT, HttpOnly (routes/auth.ts sets it). */
export const SESSION_COOKIE = 'picam_session';

export interface Principal {
  user: UserRow;
  session: SessionRow;
}

export interface IssuedSession {
  token: string;
  session: SessionRow;
}

export async function issueSession(
  deps: AuthDeps,
  user: UserRow,
  meta: { userAgent: string | undefined; address: string },
): Promise<IssuedSession> {
  const now = deps.now();
  const session: SessionRow = {
    // 130 bits: the jti is also the grant id the live side cuts viewers by.
    id: randomId(26),
    userId: user.id,
    createdAt: now,
    expiresAt: now + deps.config.sessionTtlSeconds * 1000,
    revokedAt: null,
    userAgent: meta.userAgent?.slice(0, 200) ?? null,
    address: meta.address,
  };
  const token = await signSessionToken(deps.keys, {
    sub: user.id,
    jti: session.id,
    issuedAt: now,
    expiresAt: session.expiresAt,
  });
  await insertSession(deps.db, session);
  return { token, session };
}

/** Verifies a session JWT and its row; throws 401 `unauthenticated` for anything short of valid. */
export async function authenticateSession(deps: AuthDeps, token: string): Promise<Principal> {
  if (!looksLikeJwt(token)) throw unauthenticated('invalid session token');
  const now = deps.now();
  let claims;
  try {
    claims = await verifySessionToken(deps.keys, token, now);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err; // the registry out of reach: 503, no verdict
    if (err.reason === 'expired') throw unauthenticated('session expired');
    throw unauthenticated('invalid session token');
  }
  const session = await findSession(deps.db, claims.jti);
  if (!isSessionLive(session, now) || session.userId !== claims.sub) throw unauthenticated('session expired or revoked');
  const user = await findUserById(deps.db, session.userId);
  if (!user) throw unauthenticated('session expired or revoked');
  return { user, session };
}

export async function canView(deps: AuthDeps, user: UserRow, cameraId: string): Promise<boolean> {
  return user.role === 'admin' || (await isGranted(deps.db, user.id, cameraId));
}

export function requireAdminRole(user: UserRow): void {
  if (user.role !== 'admin') throw new ApiError(403, 'forbidden', 'admin only');
}
